/**
 * The outbox as a part: opens the SQLite queue at start, closes it at stop,
 * and takes each finished frame (`accept`): a frame is committed here before
 * the publisher may see it, then the publisher is woken. Evictions and
 * refusals by the bound are counted and logged, never thrown: the capture
 * loop goes on. A frame that answers an operator's ask is sent before the
 * backlog (outbox/urgent-first.ts).
 */
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { EdgeConfig } from '../config/schema.ts';
import type { Part } from '../controller.ts';
import type { EdgeMetrics } from '../ops/metrics.ts';
import type { Progress } from '../ops/watchdog.ts';
import { OutboxFullError, type FrameIdentity, type Outbox } from '../outbox/outbox.ts';
import { StoreErrors } from '../link/store-errors.ts';
import { SqliteOutbox } from '../outbox/sqlite-outbox.ts';
import { urgentFirst } from '../outbox/urgent-first.ts';
import type { ProducedFrame } from './frame-production.ts';

/** `onDeferredError`: the daemon counts a failed deferred commit (the CLI commands need not). */
export function openOutbox(config: EdgeConfig, onDeferredError?: (error: unknown) => void): SqliteOutbox {
  const o = config.outbox;
  return new SqliteOutbox({
    path: o.path,
    limits: { maxRows: o.maxFrames, maxBytes: o.maxBytes, ttlMs: o.ttlSeconds * 1000, policy: o.policy, maxAnswers: o.maxAnswers },
    order: o.order,
    synchronous: o.synchronous,
    minFreeBytes: o.minFreeBytes,
    awaiting: { windowMs: o.answerWindowSeconds * 1000 },
    ...(onDeferredError && { onDeferredError }),
  });
}

export interface OutboxPartDeps {
  config: EdgeConfig;
  metrics: EdgeMetrics;
  log: Logger;
  progress: Progress;
  /** Tells the publisher there is something to send. */
  wake: () => void;
  /** Opens the queue; openOutbox unless a test gives another Outbox. */
  open?: (config: EdgeConfig) => Outbox;
}

export class OutboxPart implements Part {
  readonly #deps: OutboxPartDeps;
  #outbox: ReturnType<typeof urgentFirst> | null = null;

  constructor(deps: OutboxPartDeps) {
    this.#deps = deps;
  }

  get outbox(): Outbox {
    if (!this.#outbox) throw new Error('outbox not open');
    return this.#outbox;
  }

  get open(): boolean {
    return this.#outbox !== null;
  }

  start(): void {
    const { config, metrics, log } = this.#deps;
    const errors = new StoreErrors(log, (write) => metrics.outboxWriteErrors.inc({ write }));
    this.#outbox = urgentFirst(this.#deps.open ? this.#deps.open(config) : openOutbox(config, (error) => errors.failed('commit', error)));
    const stats = this.#outbox.stats();
    log.info({ outbox: resolve(config.outbox.path), queued: stats.rows, bytes: stats.bytes }, 'outbox open');
    metrics.queueDepth.set(stats.rows);
    metrics.queueBytes.set(stats.bytes);
  }

  stop(): void {
    this.#outbox?.close();
    this.#outbox = null;
  }

  nextIdentity(): FrameIdentity {
    return this.outbox.nextIdentity();
  }

  /** Frame bytes waiting: what a new frame would queue behind. */
  backlogBytes(): number {
    return this.#outbox?.stats().bytes ?? 0;
  }

  /** Commits one frame (or counts why the bound refused it), then wakes the publisher. */
  accept(frame: ProducedFrame): void {
    const { metrics, log } = this.#deps;
    const outbox = this.#outbox;
    if (!outbox) throw new Error('outbox not open');
    try {
      const result = outbox.enqueue({ sequence: frame.sequence, frameId: frame.frameId, capturedAt: frame.capturedAt, bytes: frame.bytes });
      for (const [reason, n] of Object.entries(result.evicted)) {
        metrics.evicted.inc({ reason }, n);
        log.warn({ reason, frames: n }, 'outbox evicted frames');
      }
      if (result.accepted) {
        metrics.queued.inc();
        if (frame.requestId) outbox.markUrgent({ sequence: frame.sequence, frameId: frame.frameId, capturedAt: frame.capturedAt, bytes: frame.bytes, attempts: 0 });
        const t = frame.timings;
        log.debug(
          {
            sequence: frame.sequence,
            frameId: frame.frameId,
            bytes: frame.bytes.length,
            image: frame.label,
            capturedAt: frame.capturedAt,
            codec: frame.codec,
            preprocessMs: round(t.preprocessMs),
            encodeMs: round(t.encodeMs + t.quantiseMs),
            ...(frame.predictedMs && { predictedMs: { neural: Math.round(frame.predictedMs.neural), jpeg: Math.round(frame.predictedMs.jpeg) }, link: frame.link }),
          },
          'frame queued',
        );
      }
    } catch (error) {
      if (!(error instanceof OutboxFullError)) throw error;
      metrics.dropped.inc({ reason: 'outbox-full' });
      log.warn({ err: error.message }, 'frame rejected: outbox full');
    }
    this.#deps.progress.mark();
    const stats = outbox.stats();
    metrics.queueDepth.set(stats.rows);
    metrics.queueBytes.set(stats.bytes);
    this.#deps.wake();
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
