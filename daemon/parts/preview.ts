/**
 * Previews: on an operator's `preview` command, one small JPEG of what the
 * camera sees, published once on <prefix>/<device>/preview (QoS 1, not
 * retained). Never sent unless asked: a preview costs a few KB on a link
 * that is sized for 3 KB frames.
 *
 * Invariant: a published preview is a JPEG of at most PREVIEW_MAX_BYTES whose
 * longest side is at most PREVIEW_MAX_SIDE (protocol/limits.ts). The quality
 * steps down, then the size, until it fits; an image that cannot be made to
 * fit is not sent.
 */
import type { Logger } from 'pino';
import sharp from 'sharp';
import { PREVIEW_MAX_BYTES, PREVIEW_MAX_SIDE } from '../../protocol/limits.ts';
import type { CapturedImage, RawPixels } from '../sources/source.ts';

const QUALITIES = [60, 45, 35, 25];
const SIDES = [PREVIEW_MAX_SIDE, 240, 160, 96];

/** The thumbnail: longest side at most PREVIEW_MAX_SIDE, at most PREVIEW_MAX_BYTES; null when it cannot fit. */
export async function makePreview(image: Buffer, raw?: RawPixels): Promise<Buffer | null> {
  for (const side of SIDES) {
    // A raw camera frame is RGB pixels, not a file: sharp is told their size.
    const input = raw ? sharp(image, { raw: { ...raw, channels: 3 } }) : sharp(image, { limitInputPixels: 50_000_000 }).rotate();
    const resized = input.resize(side, side, { fit: 'inside', withoutEnlargement: true });
    for (const quality of QUALITIES) {
      const jpeg = await resized.clone().jpeg({ quality, mozjpeg: false }).toBuffer();
      if (jpeg.length <= PREVIEW_MAX_BYTES) return jpeg;
    }
  }
  return null;
}

export interface PreviewDeps {
  latestImage: () => Promise<CapturedImage | null>;
  /** Publishes on the preview topic; false while not connected. */
  publish: (jpeg: Buffer) => boolean;
  connected: () => boolean;
  log: Pick<Logger, 'info' | 'warn'>;
  /** A preview went out (the status shows its time). */
  sent: (at: Date) => void;
}

export class PreviewSender {
  readonly #deps: PreviewDeps;
  #busy = false;
  lastAt: Date | null = null;

  constructor(deps: PreviewDeps) {
    this.#deps = deps;
  }

  /** Starts one preview; the reason when none can be sent now (the command is then refused). */
  request(): string | null {
    if (!this.#deps.connected()) return 'not connected to the broker';
    if (this.#busy) return 'a preview is being made';
    this.#busy = true;
    void this.#send().finally(() => (this.#busy = false));
    return null;
  }

  async #send(): Promise<void> {
    const { log } = this.#deps;
    try {
      const image = await this.#deps.latestImage();
      if (!image) {
        log.warn('preview: the camera has produced no image yet');
        return;
      }
      const jpeg = await makePreview(image.bytes, image.raw);
      if (!jpeg) {
        log.warn({ image: image.label }, `preview: cannot fit ${PREVIEW_MAX_BYTES} bytes`);
        return;
      }
      if (!this.#deps.publish(jpeg)) return;
      this.lastAt = new Date();
      log.info({ image: image.label, bytes: jpeg.length }, 'preview sent');
      this.#deps.sent(this.lastAt);
    } catch (error) {
      log.warn({ err: (error as Error).message }, 'preview not made');
    }
  }
}
