/**
 * Which codec a frame goes out with. `neural` and `jpeg` are fixed; `auto`
 * predicts, per frame, the time from capture to the cloud holding the frame:
 *
 *   encode time (measured, per codec) + (bytes queued ahead + frame bytes) / rate + RTT / 2
 *   (+ `jpegCloudExtraMs` for JPEG: the worker decodes an image where it dequantises tokens)
 *
 * Hysteresis, leaning to the smaller frame: JPEG takes over when it is
 * predicted faster by more than twice `switchMargin`, and neural comes back
 * as soon as JPEG's lead falls below `switchMargin`. Noise in the estimates
 * cannot flip every frame, and a near tie goes to the frame that costs the
 * link less. The neural frame's size is fixed by the model; the JPEG's
 * depends on the scene, so the JPEG is made (a few ms) and its exact size
 * weighed, but only where a JPEG a quarter smaller than recent ones could
 * take over: elsewhere auto costs nothing over `neural`.
 * Every 16th frame makes the JPEG anyway, to follow the scene.
 *
 * With a standing queue (more than a few frames' bytes waiting) the link, not
 * this frame's latency, is the bottleneck: the smaller frame wins, or the
 * queue would grow for ever.
 */
import type { CodecSetting, FrameCodec } from '../../protocol/codec-names.ts';
import type { LinkEstimate } from '../link/link-estimator.ts';

/** The codec names are protocol/codec-names.ts's: the same in config, metrics and status. */
export type CodecChoice = FrameCodec;
export type CodecMode = CodecSetting;

export interface CodecInputs {
  link: LinkEstimate;
  neuralBytes: number;
  /** This frame's JPEG frame size; undefined when it was not made (wantsJpeg said no). */
  jpegBytes: number | undefined;
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
/** JPEG sizes remembered, and how often a JPEG is made even when neural looks sure to win. */
const JPEG_SIZE_WINDOW = 8;
const JPEG_REFRESH_FRAMES = 16;

export class CodecSelector {
  readonly mode: CodecMode;
  readonly #margin: number;
  #current: CodecChoice = 'neural';
  readonly #encodeMs: Record<CodecChoice, number[]> = { neural: [], jpeg: [] };
  readonly #jpegSizes: number[] = [];
  #framesSinceJpeg = 0;

  readonly #jpegCloudExtraMs: number;

  constructor(mode: CodecMode, switchMargin = 0.05, jpegCloudExtraMs = 3) {
    this.mode = mode;
    this.#margin = switchMargin;
    this.#jpegCloudExtraMs = jpegCloudExtraMs;
  }

  /** Measured time to produce a frame with this codec (preprocessing excluded: both share it). */
  observeEncode(codec: CodecChoice, ms: number): void {
    const window = this.#encodeMs[codec];
    window.push(ms);
    if (window.length > ENCODE_WINDOW) window.shift();
  }

  encodeMs(codec: CodecChoice): number | undefined {
    return median(this.#encodeMs[codec]);
  }

  /** Whether this frame's JPEG is worth making (always for `jpeg`, never for `neural`). */
  wantsJpeg(inputs: Omit<CodecInputs, 'jpegBytes'>): boolean {
    if (this.mode !== 'auto') return this.mode === 'jpeg';
    const recent = median(this.#jpegSizes);
    if (recent === undefined || this.#framesSinceJpeg >= JPEG_REFRESH_FRAMES) return true;
    if (this.#current === 'jpeg') return true;
    // Worth a try only if a JPEG a quarter smaller than recent ones would take over (the same bar as #decide).
    const optimistic = this.#predict({ ...inputs, jpegBytes: recent * 0.75 });
    return !optimistic || 1 - optimistic.jpeg / optimistic.neural > 2 * this.#margin;
  }

  choose(inputs: CodecInputs): CodecDecision {
    if (this.mode !== 'auto') return { codec: this.mode };
    if (inputs.jpegBytes === undefined) {
      this.#framesSinceJpeg += 1;
      this.#current = 'neural';
      return { codec: 'neural' };
    }
    this.#framesSinceJpeg = 0;
    this.#jpegSizes.push(inputs.jpegBytes);
    if (this.#jpegSizes.length > JPEG_SIZE_WINDOW) this.#jpegSizes.shift();
    return this.#decide({ ...inputs, jpegBytes: inputs.jpegBytes });
  }

  #predict(inputs: CodecInputs & { jpegBytes: number }): Record<CodecChoice, number> | undefined {
    const { rttMs, bytesPerSecond } = inputs.link;
    const neuralEncode = this.encodeMs('neural');
    if (rttMs === undefined || bytesPerSecond === undefined || neuralEncode === undefined) return undefined;
    const predict = (bytes: number, encodeMs: number) => encodeMs + ((inputs.backlogBytes + bytes) * 1000) / bytesPerSecond + rttMs / 2;
    return { neural: predict(inputs.neuralBytes, neuralEncode), jpeg: predict(inputs.jpegBytes, this.encodeMs('jpeg') ?? 0) + this.#jpegCloudExtraMs };
  }

  #decide(inputs: CodecInputs & { jpegBytes: number }): CodecDecision {
    const predictedMs = this.#predict(inputs);
    // Until the link and the encoder have been measured once, neural is the safe guess: it is small.
    if (!predictedMs) return { codec: this.#current };
    if (inputs.backlogBytes > STANDING_QUEUE_FRAMES * Math.max(inputs.neuralBytes, inputs.jpegBytes)) {
      this.#current = inputs.neuralBytes <= inputs.jpegBytes ? 'neural' : 'jpeg';
      return { codec: this.#current, predictedMs };
    }
    const jpegLead = 1 - predictedMs.jpeg / predictedMs.neural;
    if (this.#current === 'neural' && jpegLead > 2 * this.#margin) this.#current = 'jpeg';
    else if (this.#current === 'jpeg' && jpegLead < this.#margin) this.#current = 'neural';
    return { codec: this.#current, predictedMs };
  }
}

function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  return [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];
}
