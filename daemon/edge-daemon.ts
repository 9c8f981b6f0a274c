/**
 * The edge daemon: starts and stops the independent parts (outbox, encoder,
 * camera, capture pipeline, publisher, metrics, systemd) and wires their
 * events together. Every encoded frame is committed to the outbox before the
 * publisher may see it.
 */
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import sharp from 'sharp';
import { parseAnswer, AnswerError, type Answer } from '../protocol/answer.ts';
import { loadModel } from '../protocol/manifest/load.ts';
import { TopicMap } from '../protocol/topics.ts';
import { signFrame } from '../protocol/wire/frame-auth.ts';
import { BUILD_TIME_MS } from '../runtime/build-info.ts';
import { readKeyFile } from '../runtime/key-file.ts';
import { VERSION } from '../runtime/version.ts';
import type { EdgeConfig } from './config/schema.ts';
import { answerHook } from './control/answer-sink.ts';
import { parseCommand, type EdgeCommand } from './control/commands.ts';
import { linkSettings } from './link/profiles.ts';
import { Publisher } from './link/publisher.ts';
import { OutboxFullError, type Outbox } from './outbox/outbox.ts';
import { SqliteOutbox } from './outbox/sqlite-outbox.ts';
import { ClockGuard } from './ops/clock-guard.ts';
import { EdgeMetrics } from './ops/metrics.ts';
import { SystemdNotifier } from '../runtime/systemd.ts';
import { FrameEncoder, type FrameMetadata } from './pipeline/frame-encoder.ts';
import { CapturePipeline } from './pipeline/capture-pipeline.ts';
import { CodecSelector, type CodecChoice } from './pipeline/codec-selector.ts';
import { cropToRgb, ImageError, toNormalisedNchw } from './pipeline/preprocess.ts';
import { AUTH_TAG_BYTES, frameSize } from '../protocol/wire/frame.ts';
import { createSource } from './sources/create-source.ts';
import type { CapturedImage, FrameSource } from './sources/source.ts';

interface PreparedImage {
  image: CapturedImage;
  /** The resized, centre-cropped pixels (uint8 RGB): the neural input after normalising, or the JPEG. */
  rgb: Buffer;
  preprocessMs: number;
}

export function openOutbox(config: EdgeConfig): SqliteOutbox {
  const o = config.outbox;
  return new SqliteOutbox({
    path: o.path,
    limits: { maxRows: o.maxFrames, maxBytes: o.maxBytes, ttlMs: o.ttlSeconds * 1000, policy: o.policy, maxAnswers: o.maxAnswers },
    order: o.order,
    synchronous: o.synchronous,
    minFreeBytes: o.minFreeBytes,
  });
}

export class EdgeDaemon {
  readonly config: EdgeConfig;
  readonly log: Logger;
  readonly metrics = new EdgeMetrics();
  readonly #notifier = new SystemdNotifier();
  readonly #clock: ClockGuard;
  readonly #answerHook: (answer: Answer) => void;
  /** Signs every frame when auth.keyFile is set. */
  readonly #frameKey: Buffer | null;
  #outbox: Outbox | null = null;
  #encoder: FrameEncoder | null = null;
  #source: FrameSource | null = null;
  #publisher: Publisher | null = null;
  #capture: CapturePipeline<PreparedImage> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #paused: boolean;
  #intervalMs: number;
  #prompt: string | null;
  #lastProgressAt = Date.now();
  #stopped: Promise<void> | null = null;
  #lastCommand: Record<string, unknown> | null = null;
  readonly #codec: CodecSelector;
  metricsPort: number | null = null;

  constructor(config: EdgeConfig, log: Logger) {
    this.config = config;
    this.log = log;
    this.#paused = config.capture.paused;
    this.#intervalMs = config.capture.intervalMs;
    this.#prompt = config.capture.prompt;
    this.#clock = new ClockGuard(BUILD_TIME_MS, log);
    this.#answerHook = answerHook(config.answers, log);
    this.#frameKey = config.auth.keyFile ? readKeyFile(config.auth.keyFile) : null;
    this.#codec = new CodecSelector(config.encoding.codec, config.encoding.switchMargin, config.encoding.jpegCloudExtraMs);
  }

  get outbox(): Outbox {
    if (!this.#outbox) throw new Error('daemon not started');
    return this.#outbox;
  }

  async start(): Promise<void> {
    const { config, log } = this;
    // Each image is processed once: libvips' operation cache only holds memory. One
    // libvips thread leaves the other core to the encoder on a small board.
    sharp.cache(false);
    sharp.concurrency(1);
    const model = await loadModel(config.model.path, ['edge']);
    this.#encoder = await FrameEncoder.open(model, {
      intraOpThreads: config.model.threads,
      ...(config.model.quantisation && { scheme: config.model.quantisation }),
    });
    await this.#warmUp();
    this.#outbox = openOutbox(config);
    const stats = this.#outbox.stats();
    log.info({ outbox: resolve(config.outbox.path), queued: stats.rows, bytes: stats.bytes, model: model.manifest.name, modelId: model.manifest.modelId }, 'outbox and model open');
    this.#source = createSource(config.camera, log, {
      onRestart: () => this.metrics.dropped.inc({ reason: 'camera-restart' }),
      onFrameReplaced: () => this.metrics.dropped.inc({ reason: 'superseded' }),
    });
    await this.#source.start();
    this.#capture = new CapturePipeline<PreparedImage>(
      this.#source,
      { prepare: (image) => this.#prepare(image), commit: (prepared) => this.#commit(prepared) },
      {
        onCaptured: () => this.metrics.captured.inc(),
        onDropped: (reason) => this.metrics.dropped.inc({ reason }),
        onFinished: (captures) => log.info({ captured: captures }, 'capture finished; the queue keeps draining'),
        // Not progress: if every frame fails, the watchdog pings stop and systemd restarts us.
        onFailed: (stage, error) => {
          this.metrics.dropped.inc({ reason: `${stage}-failed` });
          log.error({ stage, err: (error as Error).message ?? String(error) }, 'frame lost in the pipeline');
        },
      },
      config.capture.maxFrames,
    );
    this.#publisher = new Publisher({
      mqtt: config.mqtt,
      deviceId: config.device.id,
      topics: new TopicMap(config.mqtt.topicPrefix),
      outbox: this.#outbox,
      link: linkSettings(config.mqtt),
      log,
      status: () => this.#status(),
      probeIntervalMs: config.encoding.probeIntervalSeconds * 1000,
      events: {
        onPublished: (sequence, bytes, ms) => {
          log.debug({ sequence, ms: Math.round(ms) }, 'frame acknowledged');
          this.metrics.published.inc();
          this.metrics.publishedBytes.inc(bytes);
          this.metrics.publishSeconds.observe(ms / 1000);
          this.#lastProgressAt = Date.now();
        },
        onPublishTimeout: () => this.metrics.publishTimeouts.inc(),
        onLinkState: (up) => this.metrics.linkUp.set(up ? 1 : 0),
        onAnswer: (payload) => this.#onAnswer(payload),
        onCommand: (payload) => this.#onCommand(payload),
      },
    });
    this.#publisher.start();
    if (config.metrics.port !== undefined) {
      this.metricsPort = await this.metrics.serve(config.metrics.port, config.metrics.host);
      log.info({ port: this.metricsPort, host: config.metrics.host }, 'metrics at /metrics');
    }
    this.metrics.queueDepth.set(stats.rows);
    this.metrics.queueBytes.set(stats.bytes);
    // Ready once the model and the queue are open: being offline is normal for a board.
    this.#notifier.ready(`queued ${stats.rows} frames`);
    this.#notifier.startWatchdog(() => this.#healthy());
    this.#schedule();
    log.info({ device: config.device.id, camera: this.#source.name, intervalMs: this.#intervalMs, paused: this.#paused }, 'edge daemon running');
  }

  /**
   * Three encodes of a blank image before the first frame: onnxruntime's first run
   * allocates and picks kernels (several times slower), and `auto` needs the
   * neural encode time before it can weigh it against the link.
   */
  async #warmUp(): Promise<void> {
    const { width, height } = this.#encoder!.model.manifest.preprocess.crop;
    const meta = { deviceId: this.config.device.id, frameId: '01900000-0000-7000-8000-000000000000', sequence: 0, captureTimeMs: 0, clockUnreliable: false, prompt: null };
    // A fresh tensor each time: the encoder takes ownership of the one it is given.
    for (let run = 0; run < 3; run++) {
      const { timings } = await this.#encoder!.encodeTensor(new Float32Array(3 * width * height), meta);
      if (run > 0) this.#codec.observeEncode('neural', timings.encodeMs + timings.quantiseMs);
    }
  }

  #healthy(): boolean {
    // Capture must keep ticking unless paused or finished; a wedged loop stops the pings.
    return this.#paused || (this.#capture?.finished ?? false) || Date.now() - this.#lastProgressAt < Math.max(60_000, this.#intervalMs * 5);
  }

  #schedule(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#capture!.continuous = this.#intervalMs === 0 && !this.#paused;
    if (this.#intervalMs > 0) {
      this.#timer = setInterval(() => {
        if (!this.#paused) this.#tick();
      }, this.#intervalMs);
    }
    if (!this.#paused) setImmediate(() => this.#tick());
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#capture!.tick();
  }

  async #prepare(image: CapturedImage): Promise<PreparedImage | null> {
    const started = performance.now();
    try {
      const { rgb } = await cropToRgb(image.bytes, this.#encoder!.model.manifest.preprocess, image.label);
      this.#lastProgressAt = Date.now();
      return { image, rgb, preprocessMs: performance.now() - started };
    } catch (error) {
      if (!(error instanceof ImageError)) throw error;
      this.#lastProgressAt = Date.now(); // a corrupt image is bad input, not a wedged pipeline
      this.metrics.dropped.inc({ reason: 'corrupt-image' });
      this.log.warn({ image: image.label, err: error.message }, 'corrupt image skipped');
      return null;
    }
  }

  async #commit({ image, rgb, preprocessMs }: PreparedImage): Promise<void> {
    const outbox = this.#outbox!;
    const identity = outbox.nextIdentity();
    const meta = {
      deviceId: this.config.device.id,
      ...identity,
      captureTimeMs: Math.max(0, image.capturedAt),
      clockUnreliable: this.#clock.unreliable(),
      prompt: this.#prompt,
    };
    const frame = await this.#encode(rgb, meta);
    this.metrics.encoded.inc();
    this.metrics.framesByCodec.inc({ codec: frame.codec });
    this.metrics.encodeSeconds.observe((preprocessMs + frame.encodeMs) / 1000);
    try {
      const bytes = this.#frameKey ? signFrame(frame.bytes, this.#frameKey) : frame.bytes;
      const result = outbox.enqueue({ ...identity, capturedAt: image.capturedAt, bytes });
      for (const [reason, n] of Object.entries(result.evicted)) {
        this.metrics.evicted.inc({ reason }, n);
        this.log.warn({ reason, frames: n }, 'outbox evicted frames');
      }
      if (result.accepted) {
        this.metrics.queued.inc();
        this.log.debug({
          sequence: identity.sequence, frameId: identity.frameId, bytes: bytes.length, image: image.label, capturedAt: image.capturedAt,
          codec: frame.codec, preprocessMs: Math.round(preprocessMs * 10) / 10, encodeMs: Math.round(frame.encodeMs * 10) / 10,
          ...(frame.predictedMs && { predictedMs: { neural: Math.round(frame.predictedMs.neural), jpeg: Math.round(frame.predictedMs.jpeg) }, link: this.#publisher!.link.estimate }),
        }, 'frame queued');
      }
    } catch (error) {
      if (!(error instanceof OutboxFullError)) throw error;
      this.metrics.dropped.inc({ reason: 'outbox-full' });
      this.log.warn({ err: error.message }, 'frame rejected: outbox full');
    }
    this.#lastProgressAt = Date.now();
    const stats = outbox.stats();
    this.metrics.queueDepth.set(stats.rows);
    this.metrics.queueBytes.set(stats.bytes);
    this.#publisher!.pump();
  }

  /** One frame with the codec the selector picks (always the configured one unless `auto`). */
  async #encode(rgb: Buffer, meta: FrameMetadata): Promise<{ bytes: Uint8Array; codec: CodecChoice; encodeMs: number; predictedMs?: Record<CodecChoice, number> }> {
    const encoder = this.#encoder!;
    const { encoding } = this.config;
    const { count, width } = encoder.model.manifest.tokens;
    const tag = this.#frameKey ? AUTH_TAG_BYTES : 0;
    const sizing = {
      link: this.#publisher!.link.estimate,
      neuralBytes: frameSize(meta.deviceId.length, Buffer.byteLength(meta.prompt ?? ''), count, width, encoder.scheme, tag > 0),
      backlogBytes: this.#outbox!.stats().bytes,
    };
    // The JPEG first when it might win (a few ms): its exact size is half of the decision.
    const jpeg = this.#codec.wantsJpeg(sizing) ? await encoder.encodeJpeg(rgb, meta, encoding.jpegQuality) : null;
    if (jpeg) this.#codec.observeEncode('jpeg', jpeg.encodeMs);
    const decision = this.#codec.choose({ ...sizing, jpegBytes: jpeg ? jpeg.bytes.length + tag : undefined });
    if (decision.codec === 'jpeg' && jpeg) return { bytes: jpeg.bytes, codec: 'jpeg', encodeMs: jpeg.encodeMs, ...(decision.predictedMs && { predictedMs: decision.predictedMs }) };
    const { crop } = encoder.model.manifest.preprocess;
    const frame = await encoder.encodeTensor(toNormalisedNchw(rgb, crop.width * crop.height, encoder.model.manifest.preprocess), meta);
    const encodeMs = frame.timings.encodeMs + frame.timings.quantiseMs;
    this.#codec.observeEncode('neural', encodeMs);
    return { bytes: frame.bytes, codec: 'neural', encodeMs, ...(decision.predictedMs && { predictedMs: decision.predictedMs }) };
  }

  #onAnswer(payload: Buffer): void {
    let answer;
    try {
      answer = parseAnswer(payload);
    } catch (error) {
      this.metrics.answers.inc({ outcome: 'invalid' });
      throw error instanceof AnswerError ? error : new AnswerError(String(error));
    }
    if (answer.device !== this.config.device.id) {
      this.metrics.answers.inc({ outcome: 'invalid' });
      throw new AnswerError(`answer for device ${answer.device} arrived on ${this.config.device.id}'s topic`);
    }
    if (answer.frameId === null) {
      // The worker could not read some frame of ours (corrupted in transit): nothing to file it under.
      this.metrics.answers.inc({ outcome: 'unreadable-frame' });
      this.log.warn({ error: answer.error }, 'the cloud could not read a frame from this device');
      return;
    }
    if (!this.#outbox!.storeAnswer(answer.frameId, JSON.stringify(answer))) {
      this.metrics.answers.inc({ outcome: 'duplicate' });
      return;
    }
    this.metrics.answers.inc({ outcome: answer.error ? 'error' : 'stored' });
    this.log.info({ frameId: answer.frameId, sequence: answer.sequence, text: answer.text, error: answer.error }, 'answer');
    this.#answerHook(answer);
  }

  #onCommand(payload: Buffer): void {
    let command: EdgeCommand;
    try {
      command = parseCommand(payload);
    } catch (error) {
      this.metrics.commands.inc({ outcome: 'invalid' });
      this.#lastCommand = { ok: false, error: (error as Error).message, at: new Date().toISOString() };
      this.log.warn({ err: (error as Error).message }, 'command rejected');
      this.#publisher?.publishStatus();
      return;
    }
    this.metrics.commands.inc({ outcome: 'applied' });
    switch (command.command) {
      case 'set-prompt':
        this.#prompt = command.prompt;
        break;
      case 'capture':
        this.#tick();
        break;
      case 'pause':
        this.#paused = true;
        this.#schedule();
        break;
      case 'resume':
        this.#paused = false;
        this.#schedule();
        break;
      case 'set-interval':
        this.#intervalMs = command.intervalMs;
        this.#schedule();
        break;
    }
    this.#lastCommand = { ok: true, command: command.command, ...(command.id && { id: command.id }), at: new Date().toISOString() };
    this.log.info({ command }, 'command applied');
    this.#publisher?.publishStatus();
  }

  #status(): Record<string, unknown> {
    const stats = this.#outbox?.stats();
    return {
      version: VERSION,
      node: process.version,
      modelId: this.#encoder?.model.manifest.modelId,
      codec: this.config.encoding.codec,
      link: this.#publisher?.link.estimate,
      paused: this.#paused,
      intervalMs: this.#intervalMs,
      prompt: this.#prompt,
      queue: stats && { frames: stats.rows, bytes: stats.bytes, evicted: stats.evicted, rejected: stats.rejected },
      captured: this.#capture?.captures ?? 0,
      ...(this.#lastCommand && { lastCommand: this.#lastCommand }),
    };
  }

  /** Stop capture, finish the frame in hand, close everything. Safe to call twice. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#notifier.stopping();
      if (this.#timer) clearInterval(this.#timer);
      await this.#capture?.stop();
      await this.#source?.stop();
      await this.#publisher?.stop();
      await this.metrics.close();
      await this.#encoder?.close();
      this.#outbox?.close();
      this.#notifier.stop();
      this.log.info('edge daemon stopped');
    })();
    return this.#stopped;
  }
}
