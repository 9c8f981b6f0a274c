/**
 * The cloud worker: starts and stops the independent parts (models, dedup
 * store, answerer, embedded broker, subscriber, metrics, systemd) and wires
 * frames through them: intake -> admission (dedup, replay, in progress) ->
 * batcher -> processor -> publish -> acknowledge. A frame is acknowledged to
 * the broker only after its answer (or its error answer) has been
 * acknowledged by the broker in turn.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { encodeAnswer, type AnswerEnvelope } from '../../protocol/answer.ts';
import { TopicMap } from '../../protocol/topics.ts';
import { SystemdNotifier } from '../../runtime/systemd.ts';
import { VERSION } from '../../runtime/version.ts';
import type { Answerer } from '../answer/answerer.ts';
import { createAnswerer } from '../answer/create-answerer.ts';
import type { CloudConfig } from '../config/schema.ts';
import { CloudMetrics } from '../ops/metrics.ts';
import { Batcher } from './batcher.ts';
import { DedupStore } from './dedup-store.ts';
import { DeviceKeys } from './device-keys.ts';
import { EmbeddedBroker } from './embedded-broker.ts';
import { envelope, processBatch, type FrameJob } from './frame-processor.ts';
import { takeFrame } from './frame-intake.ts';
import { FrameAdmission } from './frame-admission.ts';
import { FrameSubscriber, type IncomingFrame } from './frame-subscriber.ts';
import { ModelRegistry } from './model-registry.ts';

interface Job extends FrameJob {
  /** The message and any redelivered copies that arrived while it was in progress. */
  messages: IncomingFrame[];
}

export interface WorkerDeps {
  /** Replaces the configured answerer (benchmarks, tests of the MQTT side). */
  answerer?: Answerer;
  /** Told of every frame taken (the operator console's history: bytes on the wire, codec). */
  onFrameTaken?(deviceId: string, frameId: string, bytes: number, codec: string): void;
}

export class CloudWorker {
  readonly config: CloudConfig;
  readonly log: Logger;
  readonly metrics = new CloudMetrics();
  readonly workerId: string;
  readonly topics: TopicMap;
  readonly #deps: WorkerDeps;
  readonly #notifier = new SystemdNotifier();
  readonly #stopController = new AbortController();
  #models: ModelRegistry | null = null;
  #keys: DeviceKeys | null = null;
  #dedup: DedupStore | null = null;
  #admission: FrameAdmission<Job> | null = null;
  #answerer: Answerer | null = null;
  #broker: EmbeddedBroker | null = null;
  #subscriber: FrameSubscriber | null = null;
  #batcher: Batcher<Job> | null = null;
  #stopped: Promise<void> | null = null;
  metricsPort: number | null = null;
  brokerPort: number | null = null;

  constructor(config: CloudConfig, log: Logger, deps: WorkerDeps = {}) {
    this.config = config;
    this.log = log;
    this.#deps = deps;
    this.workerId = config.worker.id ?? `${hostname()}-${process.pid}`;
    this.topics = new TopicMap(config.mqtt.topicPrefix);
  }

  get pending(): number {
    return this.#subscriber?.pending ?? 0;
  }

  async start(): Promise<void> {
    const { config, log } = this;
    const { dedup } = config;
    this.#dedup = new DedupStore(dedup.path, { maxEntries: dedup.maxEntries, maxDevices: dedup.maxDevices, ttlMs: dedup.ttlHours * 3_600_000 });
    if (this.#dedup.migration) log.warn({ path: dedup.path, ...this.#dedup.migration }, 'dedup store of the previous layout migrated to per-device keys');
    this.#admission = new FrameAdmission<Job>(this.#dedup, config.auth.replayWindow);
    this.#keys = new DeviceKeys(config.auth.keysDir, config.auth.required, (error) => log.error({ err: error.message }, 'device key unusable'));
    this.#models = await ModelRegistry.open(config.models.paths, { threads: config.models.threads, log });
    this.#answerer = this.#deps.answerer ?? (await createAnswerer(config.answerer));
    await this.#answerer.prepare(this.#models.all.map((served) => served.model.manifest));
    log.info({ answerer: this.#answerer.description }, 'answerer ready');
    if (config.metrics.port !== undefined) {
      this.metricsPort = await this.metrics.serve(config.metrics.port, config.metrics.host);
      log.info({ host: config.metrics.host, port: this.metricsPort }, 'metrics listening');
    }
    if (config.broker.embedded) {
      this.#broker = await EmbeddedBroker.start(config.broker.host, config.broker.port, log, { topics: this.topics, registry: this.metrics.registry });
      this.brokerPort = this.#broker.port;
    }
    const w = config.worker;
    const batching = { batchSize: w.batchSize, waitMs: w.batchWaitMs, concurrency: w.concurrency };
    this.#batcher = new Batcher<Job>({ ...batching, keyOf: (job) => job.frame.modelId, run: (jobs) => this.#runBatch(jobs) });
    this.#subscriber = FrameSubscriber.forWorker(
      config,
      { workerId: this.workerId, brokerPort: this.brokerPort, topics: this.topics, log },
      { onFrame: (frame) => this.#onFrameSafely(frame), onConnection: (up) => this.metrics.brokerUp.set(up ? 1 : 0) },
    );
    await this.#subscriber.start();
    log.info({ worker: this.workerId, version: VERSION, models: this.#models.ids, protocol: this.#subscriber.protocol }, 'cloud worker running');
    this.#notifier.ready(`serving ${this.#models.ids.length} model(s)`);
    // Pings prove the event loop turns (a wedged inference stops them); a broker outage must not restart
    // the worker into systemd's start limit.
    this.#notifier.startWatchdog(() => true);
  }

  /** A bug in handling one frame must not take the worker down; the frame is logged and not retried. */
  #onFrameSafely(message: IncomingFrame): void {
    try {
      this.#onFrame(message);
    } catch (error) {
      this.metrics.failed.inc({ reason: 'internal' });
      this.log.error({ topic: message.topic, bytes: message.payload.length, err: (error as Error).stack ?? String(error) }, 'frame handling failed; frame dropped');
      message.ack();
    }
  }

  #onFrame(message: IncomingFrame): void {
    this.metrics.received.inc();
    this.metrics.pending.set(this.pending);
    const receivedAt = performance.now();
    const intake = takeFrame(message.topic, message.payload, this.topics, this.#models!, this.#keys!);
    if (!intake.ok) {
      if (intake.rejection === null) {
        this.metrics.ignored.inc();
        this.log.warn({ topic: message.topic, reason: intake.reason }, 'message ignored');
        message.ack();
        return;
      }
      const { rejection } = intake;
      this.metrics.failed.inc({ reason: rejection.code });
      this.log.warn({ device: rejection.deviceId, frameId: rejection.frame?.frameId, code: rejection.code, reason: rejection.message }, 'frame refused');
      const answer = envelope(
        { deviceId: rejection.deviceId, receivedAt, ...(rejection.frame && { frame: rejection.frame }) },
        this.workerId,
        { error: { code: rejection.code, message: rejection.message } },
        {},
      );
      // Answered, never stored: the sender is not known to be the device the frame names.
      void this.#deliver(answer, [message], false);
      return;
    }
    const { frame, deviceId } = intake;
    this.log.debug({ device: deviceId, frameId: frame.frameId, bytes: message.payload.length }, 'frame taken');
    this.#deps.onFrameTaken?.(deviceId, frame.frameId, message.payload.length, frame.codec);
    const admission = this.#admission!.admit(deviceId, frame, intake.signed);
    if (admission.kind === 'stored') {
      this.metrics.duplicates.inc();
      this.log.debug({ device: deviceId, frameId: frame.frameId }, 'duplicate frame: answering from the dedup store');
      void this.#publish(deviceId, frame.frameId, Buffer.from(admission.payload), [message]);
    } else if (admission.kind === 'replayed') {
      this.metrics.failed.inc({ reason: 'replayed' });
      this.log.warn({ device: deviceId, frameId: frame.frameId, reason: admission.reason }, 'frame refused');
      const refusal = envelope({ deviceId, receivedAt, frame }, this.workerId, { error: { code: 'replayed', message: admission.reason } }, {});
      void this.#deliver(refusal, [message], false);
    } else if (admission.kind === 'joined') {
      this.metrics.duplicates.inc();
      admission.job.messages.push(message);
    } else {
      const job: Job = { ...intake, receivedAt, deadline: Date.now() + this.config.worker.deadlineMs, messages: [message] };
      this.#admission!.started(deviceId, frame.frameId, job);
      this.#batcher!.add(job);
    }
  }

  async #runBatch(jobs: Job[]): Promise<void> {
    this.metrics.batchSize.observe(jobs.length);
    const { defaultPrompt } = this.config.worker;
    const answers = await processBatch(jobs, { answerer: this.#answerer!, defaultPrompt, workerId: this.workerId, signal: this.#stopController.signal });
    await Promise.all(
      answers.map((answer, i) => {
        const job = jobs[i]!;
        this.#admission!.finished(job.deviceId, job.frame.frameId);
        if (answer.error && this.#stopController.signal.aborted) {
          // Cut short by a stop: leave the frame unacknowledged for the next worker run instead of answering an error.
          for (const message of job.messages) message.release();
          return undefined;
        }
        if (answer.error) this.metrics.failed.inc({ reason: answer.error.code });
        else this.metrics.answered.inc();
        for (const [stage, ms] of Object.entries(answer.timings)) this.metrics.stageSeconds.observe({ stage: stage.replace(/Ms$/, '') }, ms / 1000);
        this.log.info({ device: job.deviceId, frameId: job.frame.frameId, text: answer.text, error: answer.error, timings: answer.timings }, 'answered');
        return this.#deliver(answer, job.messages, true);
      }),
    );
  }

  /** Remembers the answer to an admitted frame (`store`), publishes it, then acknowledges the frame messages. */
  async #deliver(answer: AnswerEnvelope, messages: IncomingFrame[], store: boolean): Promise<void> {
    let payload: Buffer;
    try {
      payload = encodeAnswer(answer);
      if (store && answer.frameId !== null) this.#admission!.remember(answer.device, answer.frameId, payload);
    } catch (error) {
      // A bug, not an input: log it loudly and do not retry the frame forever.
      this.metrics.failed.inc({ reason: 'internal' });
      this.log.error({ device: answer.device, frameId: answer.frameId, err: (error as Error).message }, 'answer could not be stored or encoded; frame dropped');
      for (const message of messages) message.ack();
      return;
    }
    await this.#publish(answer.device, answer.frameId, payload, messages);
  }

  async #publish(deviceId: string, frameId: string | null, payload: Buffer, messages: IncomingFrame[]): Promise<void> {
    try {
      await this.#subscriber!.publish(this.topics.answer(deviceId), payload);
      for (const message of messages) message.ack();
    } catch (error) {
      // Not acknowledged: the broker redelivers the frame after a reconnect, and the dedup store answers it.
      this.metrics.publishFailures.inc();
      this.log.warn({ device: deviceId, frameId, err: (error as Error).message }, 'answer not delivered; the frame stays unacknowledged');
      for (const message of messages) message.release();
    } finally {
      this.metrics.pending.set(this.pending);
    }
  }

  /** Finishes the frames in progress (up to worker.stopTimeoutMs), then closes everything. Idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#notifier.stopping();
    this.#notifier.stop();
    this.#subscriber?.pause();
    if (this.#batcher) {
      const timeout = setTimeout(() => this.#stopController.abort('worker stopping'), this.config.worker.stopTimeoutMs);
      await this.#batcher.drain();
      clearTimeout(timeout);
    }
    await this.#subscriber?.stop();
    await this.#answerer?.close().catch((error) => this.log.warn({ err: (error as Error).message }, 'answerer close failed'));
    await this.#models?.close();
    this.#dedup?.close();
    await this.#broker?.stop();
    await this.metrics.close();
    this.log.info('cloud worker stopped');
  }
}
