/**
 * The edge daemon: the wiring of its parts, nothing else. Each part gets
 * what it uses; the controller (controller.ts) starts them in this order and
 * stops them in reverse:
 *
 *   outbox -> frame production -> metrics -> publisher -> capture -> status refresh -> watchdog
 *
 * A frame walks camera -> capture -> frame production (preprocess, encode,
 * sign) -> outbox (committed) -> publisher, and its answer publisher ->
 * answer inbox -> outbox (stored) -> hook, entering each part once. The
 * broker connects before capture starts, so commands may arrive first: the
 * capture part keeps them until its camera is open. Reads of a later part
 * (the link estimate, capture counters) answer with a default while it is
 * not running. Settings changed by command (prompt, interval, paused) are
 * kept in the state file (parts/state-store.ts) and are the starting
 * settings after a restart.
 */
import type { Logger } from 'pino';
import { BUILD_TIME_MS } from '../runtime/build-info.ts';
import { SystemdNotifier } from '../runtime/systemd.ts';
import type { EdgeConfig } from './config/schema.ts';
import { answerHook } from './control/answer-sink.ts';
import { OperatorControls } from './control/operator.ts';
import { PartController } from './controller.ts';
import { ClockGuard } from './ops/clock-guard.ts';
import { MetricsEndpoint } from './ops/metrics-part.ts';
import { EdgeMetrics } from './ops/metrics.ts';
import { Progress, Watchdog } from './ops/watchdog.ts';
import type { Outbox } from './outbox/outbox.ts';
import { AnswerInbox } from './parts/answer-inbox.ts';
import { ExpectedAnswers } from './control/expected-answers.ts';
import { CapturePart } from './parts/capture.ts';
import { FrameProduction, type PreparedCapture } from './parts/frame-production.ts';
import { OutboxPart } from './parts/outbox-part.ts';
import { PublisherPart } from './parts/publisher-part.ts';
import { defaultStatePath, type Settings, StateStore } from './parts/state-store.ts';
import { StatusRefresh } from './parts/status-refresh.ts';
import { statusReporter } from './parts/status-reporter.ts';
import { NO_LINK } from './pipeline/frame-maker.ts';

export { openOutbox } from './parts/outbox-part.ts';

export class EdgeDaemon {
  readonly config: EdgeConfig;
  readonly log: Logger;
  readonly metrics = new EdgeMetrics();
  readonly #queue: OutboxPart;
  readonly #endpoint: MetricsEndpoint;
  readonly #capture: CapturePart<PreparedCapture>;
  readonly #controller: PartController;
  #stopped: Promise<void> | null = null;

  constructor(configured: EdgeConfig, log: Logger) {
    const state = new StateStore(configured.state.path ?? defaultStatePath(configured.outbox.path), log);
    const base: Settings = { prompt: configured.capture.prompt, intervalMs: configured.capture.intervalMs, paused: configured.capture.paused };
    const config: EdgeConfig = { ...configured, capture: { ...configured.capture, ...state.settings(base) } };
    this.config = config;
    this.log = log;
    const { metrics } = this;
    const progress = new Progress();
    const clock = new ClockGuard(BUILD_TIME_MS, log);

    const queue = new OutboxPart({ config, metrics, log, progress, wake: () => publisher.pump() });
    const frames = new FrameProduction({
      config,
      metrics,
      log,
      progress,
      identity: () => queue.nextIdentity(),
      clockUnreliable: () => clock.unreliable(),
      linkView: () => ({ link: publisher.link ?? NO_LINK.link, backlogBytes: queue.backlogBytes() }),
      next: (frame) => queue.accept(frame),
      requestFailed: (id) => asks.failed(id),
    });
    const capture = new CapturePart<PreparedCapture>({
      config,
      metrics,
      log,
      stages: { prepare: (image) => frames.prepare(image), commit: (prepared) => frames.commit(prepared), supersede: (dropped, replacement) => frames.supersede(dropped, replacement) },
    });
    // The outbox keeps the ids awaiting answers across crashes (outbox/outbox-awaiting.ts).
    const expected = new ExpectedAnswers({ held: (frameId) => queue.outbox.isAwaitingAnswer(frameId) });
    const operator = new OperatorControls({ config, configured: base, state, frames, capture, publisher: () => publisher, metrics, log });
    const { asks, commands } = operator;
    const inbox = new AnswerInbox({
      deviceId: config.device.id,
      expected,
      metrics,
      log,
      store: (frameId, json) => queue.outbox.storeAnswer(frameId, json),
      hook: ((integrator) => (answer) => {
        operator.answered(answer);
        integrator(answer);
      })(answerHook(config.answers, log, metrics)),
    });
    const status = statusReporter({
      codec: config.encoding.codec,
      modelId: () => frames.modelId,
      link: () => publisher.link,
      capture: () => ({ paused: capture.paused, intervalMs: capture.intervalMs, captures: capture.captures }),
      prompt: () => frames.prompt,
      queue: () => (queue.open ? queue.outbox.stats() : undefined),
      lastCommand: () => commands.lastCommand,
      asks: () => ({ pending: asks.pending, last: asks.last }),
      frames: () => ({ codecs: frames.codecs, lastFrameAt: frames.lastFrameAt, model: frames.modelName }),
      lastAnswerAt: () => operator.lastAnswerAt,
      lastPreviewAt: () => operator.preview.lastAt,
      publishDenied: () => publisher.denied,
    });
    metrics.queueSource = () => (queue.open ? queue.outbox.stats() : undefined);
    const others = operator.others;
    const publisher: PublisherPart = new PublisherPart({ config, metrics, log, progress, status, outbox: () => queue.outbox, answers: inbox, sending: (id) => expected.sent(id), commands, others });
    const watchdog = new Watchdog({
      notifier: new SystemdNotifier(),
      progress,
      resting: () => capture.paused || capture.finished,
      intervalMs: () => capture.intervalMs,
      readyStatus: () => `queued ${queue.outbox.stats().rows} frames`,
    });
    this.#queue = queue;
    this.#capture = capture;
    this.#endpoint = new MetricsEndpoint(metrics, config.metrics, log);
    this.#controller = new PartController(
      [
        { name: 'outbox', part: queue },
        { name: 'frame production', part: frames },
        { name: 'metrics', part: this.#endpoint },
        { name: 'publisher', part: publisher },
        { name: 'capture', part: capture },
        { name: 'status refresh', part: new StatusRefresh({ intervalMs: config.status.intervalSeconds * 1000, publish: () => publisher.publishStatus() }) },
        { name: 'asks', part: { stop: () => asks.stop() } },
        { name: 'watchdog', part: watchdog },
      ],
      log,
    );
  }

  get outbox(): Outbox {
    return this.#queue.outbox;
  }

  get metricsPort(): number | null {
    return this.#endpoint.port;
  }

  async start(): Promise<void> {
    await this.#controller.start();
    if (this.#stopped) return; // a signal during start: the controller started no further part
    const capture = this.#capture;
    this.log.info({ device: this.config.device.id, camera: capture.cameraName, intervalMs: capture.intervalMs, paused: capture.paused }, 'edge daemon running');
  }

  /** Stop capture, finish the frame in hand, close everything. Safe to call twice. */
  stop(): Promise<void> {
    this.#stopped ??= this.#controller.stop().then(() => this.log.info('edge daemon stopped'));
    return this.#stopped;
  }
}
