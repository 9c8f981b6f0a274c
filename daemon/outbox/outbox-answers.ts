/**
 * The answers kept in the outbox file: stored once per frame id (a broker's
 * redelivery is a duplicate, not a second answer), the oldest trimmed beyond
 * the bound. Storing one deletes its frame's row in the same transaction,
 * awaiting (outbox-awaiting.ts) or still queued (its PUBACK lost in a crash:
 * the answer shows the cloud has the frame, so it is not sent again).
 *
 * Trimmed in batches: never more than the bound, and once over it, down to
 * the bound less trimSlack (at most TRIM_BATCH). Trimming one answer per
 * store rewrote the oldest leaf of the table and of both its indexes on
 * every answer's commit: 3 of the 8 pages an answer wrote
 * (bench/footprint/disk-writes.ts, answered frames).
 */
import type Database from 'better-sqlite3';
import { findFrame, type AwaitingAnswers } from './outbox-awaiting.ts';
import type { OutboxStatements } from './outbox-database.ts';
import type { QueueTotals } from './outbox-eviction.ts';
import type { OutboxIdentity } from './outbox-identity.ts';
import type { StoredAnswer } from './outbox.ts';

/** The most answers one trim removes beyond the one that crossed the bound. */
export const TRIM_BATCH = 64;

/** How far below the bound a trim goes: a sixteenth of it, at most TRIM_BATCH (0 for small bounds: exact). */
export function trimSlack(maxAnswers: number): number {
  return Math.min(TRIM_BATCH, Math.floor(maxAnswers / 16));
}

export class OutboxAnswers {
  readonly #db: Database.Database;
  readonly #statements: OutboxStatements;
  readonly #max: number;
  readonly #frames: { awaiting: AwaitingAnswers; identity: OutboxIdentity; totals: QueueTotals };
  #count: number;

  constructor(db: Database.Database, statements: OutboxStatements, maxAnswers: number, frames: { awaiting: AwaitingAnswers; identity: OutboxIdentity; totals: QueueTotals }) {
    this.#db = db;
    this.#statements = statements;
    this.#max = maxAnswers;
    this.#frames = frames;
    this.#count = statements.countAnswers.get()!.n;
  }

  get count(): number {
    return this.#count;
  }

  /** Stores an answer once per frame id; false for a duplicate. */
  store(frameId: string, payload: string, receivedAt: number): boolean {
    return this.#db.transaction(() => {
      this.#deleteFrame(frameId);
      const inserted = this.#statements.insertAnswer.run(frameId, receivedAt, payload).changes === 1;
      if (!inserted) return false;
      this.#count += 1;
      if (this.#count > this.#max) {
        this.#count -= this.#statements.trimAnswers.run(this.#count - this.#max + trimSlack(this.#max)).changes;
      }
      return true;
    })();
  }

  /** True while a row holds `frameId`: queued (sent or about to be) or acknowledged and awaiting its answer. */
  awaits(frameId: string, now = Date.now()): boolean {
    const frame = findFrame(this.#statements, frameId, this.#frames.identity.lastSequence);
    return frame !== null && this.#frames.awaiting.accepts(frame.ackedAt, now);
  }

  #deleteFrame(frameId: string): void {
    const frame = findFrame(this.#statements, frameId, this.#frames.identity.lastSequence);
    if (!frame) return;
    const { awaiting, totals } = this.#frames;
    const queued = frame.ackedAt === null ? this.#statements.sizeOf.get(frame.seq) : undefined;
    awaiting.deleteRows([frame.seq]);
    awaiting.forget(frame.seq);
    if (queued) {
      totals.rows -= 1;
      totals.bytes -= queued.size;
    }
  }

  list(options: { limit?: number; afterReceivedAt?: number }): StoredAnswer[] {
    return this.#statements.answers.all(options.afterReceivedAt ?? -1, options.limit ?? 100);
  }
}
