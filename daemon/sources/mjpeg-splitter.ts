/**
 * Splits a byte stream of concatenated JPEGs (MJPEG on a camera app's stdout)
 * into whole images. It walks the marker segments up to the scan, so an EXIF
 * thumbnail's end marker is not mistaken for the end of the frame, then looks
 * for EOI in the entropy-coded data (where 0xFF is always stuffed). Memory is
 * bounded: a frame that grows past `maxFrameBytes` is discarded and counted.
 */
export interface SplitterStats {
  frames: number;
  discardedBytes: number;
  oversized: number;
}

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;

export class MjpegSplitter {
  readonly #maxFrameBytes: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  readonly stats: SplitterStats = { frames: 0, discardedBytes: 0, oversized: 0 };

  constructor(maxFrameBytes = 8 * 1024 * 1024) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Feed bytes; returns the complete JPEGs they finish. */
  push(chunk: Buffer): Buffer[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const out: Buffer[] = [];
    let data = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    for (;;) {
      const start = findSoi(data);
      if (start < 0) {
        // Keep a trailing 0xFF: it may begin the next SOI.
        const keep = data.length > 0 && data[data.length - 1] === 0xff ? 1 : 0;
        this.stats.discardedBytes += data.length - keep;
        data = data.subarray(data.length - keep);
        break;
      }
      if (start > 0) {
        this.stats.discardedBytes += start;
        data = data.subarray(start);
      }
      const end = findFrameEnd(data);
      if (end < 0) {
        if (data.length > this.#maxFrameBytes) {
          this.stats.oversized += 1;
          this.stats.discardedBytes += data.length;
          data = data.subarray(2); // skip this SOI, resynchronise on the next
          continue;
        }
        break;
      }
      out.push(Buffer.from(data.subarray(0, end)));
      this.stats.frames += 1;
      data = data.subarray(end);
    }
    this.#chunks = data.length ? [Buffer.from(data)] : [];
    this.#buffered = data.length;
    return out;
  }

  get bufferedBytes(): number {
    return this.#buffered;
  }
}

function findSoi(data: Buffer): number {
  for (let i = data.indexOf(0xff); i >= 0 && i + 1 < data.length; i = data.indexOf(0xff, i + 1)) {
    if (data[i + 1] === SOI) return i;
  }
  return -1;
}

/** Offset just past EOI of the JPEG starting at 0, or -1 if it is not complete yet. */
function findFrameEnd(data: Buffer): number {
  let at = 2;
  // Marker segments before the scan: each has a 2-byte length.
  for (;;) {
    if (at + 4 > data.length) return -1;
    if (data[at] !== 0xff) return scanForEoi(data, at); // not a marker: treat as entropy data
    const marker = data[at + 1]!;
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    if (marker === EOI) return at + 2;
    if (marker >= 0xd0 && marker <= 0xd7) {
      at += 2;
      continue;
    }
    const length = data.readUInt16BE(at + 2);
    if (length < 2) return scanForEoi(data, at + 2);
    at += 2 + length;
    if (marker === SOS) return scanForEoi(data, at);
  }
}

function scanForEoi(data: Buffer, from: number): number {
  for (let i = data.indexOf(0xff, from); i >= 0 && i + 1 < data.length; i = data.indexOf(0xff, i + 1)) {
    const next = data[i + 1]!;
    if (next === EOI) return i + 2;
    // The next frame's SOI before any EOI: this frame was cut short; end it here.
    if (next === SOI) return i;
  }
  return -1;
}
