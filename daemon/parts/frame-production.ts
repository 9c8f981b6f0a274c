/**
 * Frame production as a part: loads the edge model at start (and warms it
 * up), closes it at stop. Between the two it is the capture pipeline's two
 * stages: `prepare` (decode, resize, crop) and `commit` (stamp the frame's
 * identity, encode with the chosen codec, sign, hand to the next part).
 * Image to frame is FrameMaker's, the same path `splitoculo-edge encode`
 * takes.
 */
import type { Logger } from 'pino';
import sharp from 'sharp';
import { loadModel } from '../../protocol/manifest/load.ts';
import type { CapturedImage } from '../sources/source.ts';
import type { EdgeConfig } from '../config/schema.ts';
import type { Part } from '../controller.ts';
import type { EdgeMetrics } from '../ops/metrics.ts';
import type { Progress } from '../ops/watchdog.ts';
import type { FrameIdentity } from '../outbox/outbox.ts';
import { FrameMaker, type LinkView, type MadeFrame, type PreparedImage } from '../pipeline/frame-maker.ts';
import { ImageError } from '../pipeline/preprocess.ts';
import { readKeyFile } from '../../runtime/key-file.ts';

/** A made frame with what the outbox files it under. */
export interface ProducedFrame extends MadeFrame, FrameIdentity {
  capturedAt: number;
  label: string;
}

export interface PreparedCapture extends PreparedImage {
  image: CapturedImage;
}

export interface FrameProductionDeps {
  config: EdgeConfig;
  metrics: EdgeMetrics;
  log: Logger;
  progress: Progress;
  /** Sequence number and frame id of the next frame (the outbox's, never reused). */
  identity: () => FrameIdentity;
  clockUnreliable: () => boolean;
  /** The link as `auto` should see it for the next frame. */
  linkView: () => LinkView;
  /** Where finished frames go (the outbox). */
  next: (frame: ProducedFrame) => void;
}

export class FrameProduction implements Part {
  readonly #deps: FrameProductionDeps;
  #maker: FrameMaker | null = null;
  /** Sent with every new frame; an operator's set-prompt changes it. */
  prompt: string | null;

  constructor(deps: FrameProductionDeps) {
    this.#deps = deps;
    this.prompt = deps.config.capture.prompt;
  }

  get modelId(): string | undefined {
    return this.#maker?.model.manifest.modelId;
  }

  async start(): Promise<void> {
    const { config, log } = this.#deps;
    // Each image is processed once: libvips' operation cache only holds memory. One
    // libvips thread leaves the other core to the encoder on a small board.
    sharp.cache(false);
    sharp.concurrency(1);
    // The key is read first: a missing key file fails before the model loads.
    const key = config.auth.keyFile ? readKeyFile(config.auth.keyFile) : null;
    const model = await loadModel(config.model.path, ['edge']);
    this.#maker = await FrameMaker.open(model, {
      ...config.encoding,
      key,
      intraOpThreads: config.model.threads,
      ...(config.model.quantisation && { scheme: config.model.quantisation }),
    });
    await this.#maker.warmUp(config.device.id);
    log.info({ model: model.manifest.name, modelId: model.manifest.modelId, codec: config.encoding.codec, signed: key !== null }, 'model open');
  }

  async stop(): Promise<void> {
    await this.#maker?.close();
    this.#maker = null;
  }

  /** Stage one: null for an image that does not decode (bad input, counted; the loop goes on). */
  async prepare(image: CapturedImage): Promise<PreparedCapture | null> {
    const { metrics, log, progress } = this.#deps;
    try {
      const prepared = await this.#running().prepare(image.bytes, image.label);
      progress.mark();
      return { ...prepared, image };
    } catch (error) {
      if (!(error instanceof ImageError)) throw error;
      progress.mark(); // a corrupt image is bad input, not a wedged pipeline
      metrics.dropped.inc({ reason: 'corrupt-image' });
      log.warn({ image: image.label, err: error.message }, 'corrupt image skipped');
      return null;
    }
  }

  /** Stage two: the frame, encoded and signed, handed to the next part. */
  async commit(prepared: PreparedCapture): Promise<void> {
    const deps = this.#deps;
    const identity = deps.identity();
    const { image } = prepared;
    const meta = {
      deviceId: deps.config.device.id,
      ...identity,
      captureTimeMs: Math.max(0, image.capturedAt),
      clockUnreliable: deps.clockUnreliable(),
      prompt: this.prompt,
    };
    const frame = await this.#running().make(prepared, meta, deps.linkView());
    deps.metrics.encoded.inc();
    deps.metrics.framesByCodec.inc({ codec: frame.codec });
    deps.metrics.encodeSeconds.observe((frame.timings.preprocessMs + frame.timings.encodeMs + frame.timings.quantiseMs) / 1000);
    deps.next({ ...frame, ...identity, capturedAt: image.capturedAt, label: image.label });
  }

  #running(): FrameMaker {
    if (!this.#maker) throw new Error('frame production not started');
    return this.#maker;
  }
}
