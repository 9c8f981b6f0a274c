/** A camera: something that, when asked, hands over its newest image. */
import { UserError } from '../../protocol/errors.ts';
/** Pixels as they came from the camera, no image file around them: RGB, 3 bytes a pixel, rows top to bottom. */
export interface RawPixels {
  width: number;
  height: number;
}

export interface CapturedImage {
  /** An encoded image (JPEG, PNG, ...), or RGB pixels when `raw` is set. */
  bytes: Buffer;
  raw?: RawPixels;
  capturedAt: number;
  /** Where it came from, for log lines and errors (file name, "v4l2 frame 17"). */
  label: string;
}

export interface FrameSource {
  readonly name: string;
  /**
   * A live camera keeps producing frames whether or not they are taken, so
   * the newest wins and older ones are dropped. A replayed file or folder is
   * not live: nothing is skipped, capture waits for the encoder instead.
   */
  readonly live: boolean;
  start(): Promise<void>;
  /** The newest image not yet handed out, or null if none has arrived (or the source is exhausted). */
  grab(): Promise<CapturedImage | null>;
  /** True when no further image will ever come (a directory replayed without loop). */
  readonly exhausted: boolean;
  stop(): Promise<void>;
}

/** A camera that cannot be opened (missing folder, unreadable file, no camera app). */
export class CameraError extends UserError {
  override readonly name = 'CameraError';
}
