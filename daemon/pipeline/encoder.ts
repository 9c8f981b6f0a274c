/**
 * What the frame encoder needs from whatever runs edge.onnx: one normalised
 * image tensor in, N x D bottleneck tokens out, one frame at a time (a second
 * encode() waits for the first), the caller's tensor left as it was.
 *
 * Two ways to run it, chosen by `model.thread`:
 * - `main` (inline-encoder.ts): onnxruntime on the daemon's own thread. The
 *   least memory (no second V8 isolate: 18 MB resident for an idle worker
 *   thread, 18.8 MB in the daemon, bench/results/footprint.md) and no copy
 *   between threads; while a frame is encoded (8-20 ms here with the full
 *   model) MQTT, the outbox and the metrics wait.
 * - `worker` (worker-encoder.ts): the session in a worker thread, so the
 *   event loop keeps moving during a long inference (a large model on a slow
 *   board) at the cost of that isolate.
 */
import { UserError } from '../../protocol/errors.ts';

export class EncoderError extends UserError {
  override readonly name = 'EncoderError';
}

export const ENCODER_THREADS = ['main', 'worker'] as const;
export type EncoderThread = (typeof ENCODER_THREADS)[number];

export interface Encoder {
  readonly tokenCount: number;
  readonly tokenWidth: number;
  /** Tokens for one image: a fresh array; the input is read, never kept or changed. */
  encode(image: Float32Array): Promise<Float32Array>;
  /** Waits for the frame in progress; encode() afterwards is refused with EncoderError. */
  close(): Promise<void>;
}
