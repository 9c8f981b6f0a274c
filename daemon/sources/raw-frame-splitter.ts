/**
 * Splits a stream of raw RGB frames (ffmpeg `-f rawvideo -pix_fmt rgb24` on
 * stdout) into whole frames: every frame is exactly width x height x 3 bytes,
 * so the stream needs no parsing, only counting. Bounded memory: one frame
 * filling; a frame replaced before anyone took it is handed back (recycle)
 * and filled again, so a camera faster than the encoder allocates nothing.
 */
export class RawFrameSplitter {
  readonly frameBytes: number;
  #filling: Buffer;
  #filled = 0;
  #spare: Buffer | null = null;
  frames = 0;

  constructor(width: number, height: number) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) throw new RangeError(`raw frame size ${width}x${height}`);
    this.frameBytes = width * height * 3;
    this.#filling = Buffer.allocUnsafe(this.frameBytes);
  }

  /** Feed bytes; returns the frames they complete (each a buffer of its own). */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let at = 0;
    while (at < chunk.length) {
      const n = Math.min(this.frameBytes - this.#filled, chunk.length - at);
      chunk.copy(this.#filling, this.#filled, at, at + n);
      this.#filled += n;
      at += n;
      if (this.#filled === this.frameBytes) {
        out.push(this.#filling);
        this.frames += 1;
        this.#filling = this.#spare ?? Buffer.allocUnsafe(this.frameBytes);
        this.#spare = null;
        this.#filled = 0;
      }
    }
    return out;
  }

  /** A frame nobody will read any more (superseded before it was taken): its memory fills the next. */
  recycle(frame: Buffer): void {
    if (frame.length === this.frameBytes && frame !== this.#filling) this.#spare = frame;
  }

  get bufferedBytes(): number {
    return this.#filled;
  }
}
