/**
 * Which codec a frame goes out with. `neural` and `jpeg` are fixed; `auto`
 * predicts, per frame, the time from capture to the cloud holding the frame:
 *
 *   encode time (measured, per codec) + (bytes queued ahead + frame bytes) / rate + RTT / 2
 *
 * and takes the faster, switching away from the codec in use only when the
 * other is predicted faster by more than `switchMargin` (hysteresis: noise in
 * the estimates must not flip every frame). The JPEG of the crop costs a few
 * milliseconds, so auto always makes it and knows this frame's exact size;
 * the neural frame's size is fixed by the model.
 *
 * With a standing queue (more than a few frames' bytes waiting) the link, not
 * this frame's latency, is the bottleneck: the smaller frame wins, or the
 * queue would grow for ever.
 */
import type { LinkEstimate } from '../link/link-estimator.ts';

export type CodecChoice = 'neural' | 'jpeg';
export type CodecMode = CodecChoice | 'auto';

export interface CodecInputs {
  link: LinkEstimate;
  neuralBytes: number;
  jpegBytes: number;
  /** Frame bytes queued or unacknowledged ahead of this one. */
  backlogBytes: number;
}

export interface CodecDecision {
  codec: CodecChoice;
  /** Predicted ms from capture to the cloud for each codec; absent for fixed modes. */
  predictedMs?: Record<CodecChoice, number>;
}

/** Encode times kept per codec; their median is the prediction (one slow run, e.g. a GC pause, does not count). */
const ENCODE_WINDOW = 8;
/** Queued bytes, in frames of the larger codec, beyond which only size counts. */
const STANDING_QUEUE_FRAMES = 4;

export class CodecSelector {
  readonly mode: CodecMode;
  readonly #margin: number;
  #current: CodecChoice = 'neural';
  readonly #encodeMs: Record<CodecChoice, number[]> = { neural: [], jpeg: [] };

  constructor(mode: CodecMode, switchMargin = 0.05) {
    this.mode = mode;
    this.#margin = switchMargin;
  }

  /** Measured time to produce a frame with this codec (preprocessing excluded: both share it). */
  observeEncode(codec: CodecChoice, ms: number): void {
    const window = this.#encodeMs[codec];
    window.push(ms);
    if (window.length > ENCODE_WINDOW) window.shift();
  }

  encodeMs(codec: CodecChoice): number | undefined {
    const window = this.#encodeMs[codec];
    if (window.length === 0) return undefined;
    return [...window].sort((a, b) => a - b)[Math.floor((window.length - 1) / 2)];
  }

  choose(inputs: CodecInputs): CodecDecision {
    if (this.mode !== 'auto') return { codec: this.mode };
    const { rttMs, bytesPerSecond } = inputs.link;
    const neuralEncode = this.encodeMs('neural');
    // Until the link and the encoder have been measured once, neural is the safe guess: it is small.
    if (rttMs === undefined || bytesPerSecond === undefined || neuralEncode === undefined) return { codec: this.#current };
    const predict = (bytes: number, encodeMs: number) => encodeMs + ((inputs.backlogBytes + bytes) * 1000) / bytesPerSecond + rttMs / 2;
    const predictedMs = {
      neural: predict(inputs.neuralBytes, neuralEncode),
      jpeg: predict(inputs.jpegBytes, this.encodeMs('jpeg') ?? 0),
    };
    if (inputs.backlogBytes > STANDING_QUEUE_FRAMES * Math.max(inputs.neuralBytes, inputs.jpegBytes)) {
      this.#current = inputs.neuralBytes <= inputs.jpegBytes ? 'neural' : 'jpeg';
      return { codec: this.#current, predictedMs };
    }
    const other: CodecChoice = this.#current === 'neural' ? 'jpeg' : 'neural';
    if (predictedMs[other] < predictedMs[this.#current] * (1 - this.#margin)) this.#current = other;
    return { codec: this.#current, predictedMs };
  }
}
