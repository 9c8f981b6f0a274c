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
  /** The operator's ask this frame answers: it goes out before the backlog. */
  requestId?: string;
}

/** An operator's ask: the prompt and request id its frame carries. */
export interface FrameRequest {
  prompt: string;
  requestId: string;
}

export interface PreparedCapture extends PreparedImage {
  image: CapturedImage;
  /** Set on the first image prepared after an ask: this frame answers it. */
  request?: FrameRequest;
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
  /** The frame for this ask could not be made (the ask ends now instead of timing out). */
  requestFailed?: (requestId: string) => void;
}

export class FrameProduction implements Part {
  readonly #deps: FrameProductionDeps;
  #maker: FrameMaker | null = null;
  /** Sent with every new frame; an operator's set-prompt changes it. */
  prompt: string | null;
  /** Frames made since start, by codec (the status's codec mix). */
  readonly codecs = { neural: 0, jpeg: 0 };
  /** Capture time of the newest frame made (ms since the epoch); null before the first. */
  lastFrameAt: number | null = null;
  #request: FrameRequest | null = null;

  constructor(deps: FrameProductionDeps) {
    this.#deps = deps;
    this.prompt = deps.config.capture.prompt;
  }

  get modelId(): string | undefined {
    return this.#maker?.model.manifest.modelId;
  }

  /** The edge model's name (its manifest's); undefined until started. */
  get modelName(): string | undefined {
    return this.#maker?.model.manifest.name;
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
      thread: config.model.thread,
      arena: config.model.arena,
      ...(config.model.quantisation && { scheme: config.model.quantisation }),
    });
    await this.#maker.warmUp(config.device.id);
    log.info({ model: model.manifest.name, modelId: model.manifest.modelId, codec: config.encoding.codec, signed: key !== null }, 'model open');
  }

  async stop(): Promise<void> {
    await this.#maker?.close();
    this.#maker = null;
  }

  /** The next image prepared carries this ask's prompt and request id (one ask at a time: the tracker sees to it). */
  requestNext(request: FrameRequest): void {
    this.#request = request;
  }

  /** Withdraws an ask no image was taken for; true when it was still waiting. */
  cancelRequest(requestId: string): boolean {
    if (this.#request?.requestId !== requestId) return false;
    this.#request = null;
    return true;
  }

  /** Stage one: null for an image that does not decode (bad input, counted; the loop goes on). */
  async prepare(image: CapturedImage): Promise<PreparedCapture | null> {
    const { metrics, log, progress } = this.#deps;
    try {
      const prepared = await this.#running().prepare(image.raw ? { rgb: image.bytes, ...image.raw } : image.bytes, image.label);
      progress.mark();
      const request = this.#request;
      this.#request = null;
      return { ...prepared, image, ...(request && { request }) };
    } catch (error) {
      if (!(error instanceof ImageError)) throw error;
      progress.mark(); // a corrupt image is bad input, not a wedged pipeline
      metrics.dropped.inc({ reason: 'corrupt-image' });
      log.warn({ image: image.label, err: error.message }, 'corrupt image skipped');
      return null;
    }
  }

  /** A waiting image replaced by a newer one: an ask's request goes on with the newer image (else the ask would get no frame). */
  supersede(dropped: PreparedCapture, replacement: PreparedCapture): PreparedCapture {
    return dropped.request && !replacement.request ? { ...replacement, request: dropped.request } : replacement;
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
      prompt: prepared.request?.prompt ?? this.prompt,
      requestId: prepared.request?.requestId ?? null,
    };
    let frame: MadeFrame;
    try {
      frame = await this.#running().make(prepared, meta, deps.linkView());
    } catch (error) {
      if (prepared.request) deps.requestFailed?.(prepared.request.requestId);
      throw error;
    }
    deps.metrics.encoded.inc();
    deps.metrics.framesByCodec.inc({ codec: frame.codec });
    this.codecs[frame.codec] += 1;
    this.lastFrameAt = image.capturedAt;
    deps.metrics.encodeSeconds.observe((frame.timings.preprocessMs + frame.timings.encodeMs + frame.timings.quantiseMs) / 1000);
    deps.next({ ...frame, ...identity, capturedAt: image.capturedAt, label: image.label, ...(prepared.request && { requestId: prepared.request.requestId }) });
  }

  #running(): FrameMaker {
    if (!this.#maker) throw new Error('frame production not started');
    return this.#maker;
  }
}
