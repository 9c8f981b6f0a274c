/**
 * Writes the outbox may lose in a crash, deferred so they cost no page of
 * their own: marking acknowledged frames and counting publish attempts.
 * They go into one open transaction that the next durable write commits
 * (an enqueue, an answer, an eviction, close), or a timer after
 * DEFERRED_COMMIT_MS when nothing else writes.
 *
 * Why: at 10 frames/s the queue is mostly empty, so the frames table's
 * newest page holds the frame in flight; each frame used to rewrite it three
 * times (insert, attempt, delete) plus the meta page (the identity), 12.7 KB
 * of WAL per 3.2 KB frame. With the attempt and the ack riding on the next
 * insert's commit, the page is written once per frame
 * (bench/footprint/disk-writes.ts).
 *
 * An ack does not delete the row: it empties its payload and marks it
 * awaiting its answer (outbox-awaiting.ts), the same page's rewrite, so the
 * frame ids whose answers the board still accepts survive a crash.
 *
 * What a crash costs: frames acknowledged in the last second are sent again
 * (the cloud answers a frame id once; their answers are accepted, the rows
 * being still queued) and attempts are under-counted. Nothing enqueued is
 * lost: enqueues still commit before they return. A commit that fails (an
 * I/O error, SQLITE_FULL) never throws out of the timer: it is counted and
 * tried again; if SQLite rolled the transaction back, its acks are applied
 * again in a new one (test/daemon/outbox-io-error.test.ts).
 */
import type Database from 'better-sqlite3';
import type { OutboxStatements } from './outbox-database.ts';
import type { QueueTotals } from './outbox-eviction.ts';
import type { AwaitingAnswers } from './outbox-awaiting.ts';
import type { OutboxIdentity } from './outbox-identity.ts';

export const DEFERRED_COMMIT_MS = 1000;

export interface DeferredHooks {
  /** The owner's counters from the file, after a rollback. */
  reload(): void;
  /** The timer's commit failed (an I/O error): counted by the owner; tried again after DEFERRED_COMMIT_MS. */
  onTimerError?: ((error: unknown) => void) | undefined;
}

export class DeferredWrites {
  readonly #db: Database.Database;
  readonly #statements: OutboxStatements;
  readonly #totals: QueueTotals;
  readonly #awaiting: AwaitingAnswers;
  readonly #identity: OutboxIdentity;
  #timer: NodeJS.Timeout | null = null;
  #acked = false;
  readonly #hooks: DeferredHooks;
  /** Acks in the open transaction, kept until it commits: a rollback (an I/O error, SQLITE_FULL) must not drop them. */
  #unsaved: Array<[sequence: number, at: number]> = [];

  constructor(db: Database.Database, statements: OutboxStatements, totals: QueueTotals, awaiting: AwaitingAnswers, identity: OutboxIdentity, hooks: DeferredHooks) {
    this.#db = db;
    this.#hooks = hooks;
    this.#statements = statements;
    this.#totals = totals;
    this.#awaiting = awaiting;
    this.#identity = identity;
  }

  #begin(): void {
    if (!this.#db.inTransaction) this.#db.exec('BEGIN IMMEDIATE');
    this.#timer ??= setTimeout(() => this.#timed(), DEFERRED_COMMIT_MS).unref();
  }

  /** From a timer: a throw would end the daemon. A failed commit leaves the writes in the open transaction, tried again after the delay. */
  #timed(): void {
    this.#timer = null;
    try {
      this.commit();
    } catch (error) {
      this.#hooks.onTimerError?.(error);
      // Still open: committed on the next try. Rolled back: counters from the file, and the next commit applies the acks again.
      if (!this.#db.inTransaction) this.#hooks.reload();
      this.#timer ??= setTimeout(() => this.#timed(), DEFERRED_COMMIT_MS).unref();
    }
  }

  markAttempt(sequence: number): void {
    this.#begin();
    this.#statements.attempt.run(sequence);
  }

  /** Queued frames acknowledged: they leave the queue and await their answers (unknown or already acknowledged sequences are ignored). */
  ack(sequences: readonly number[], now = Date.now()): void {
    if (sequences.length === 0) return;
    this.#begin();
    for (const seq of sequences) {
      const row = this.#statements.sizeOf.get(seq);
      if (!row) continue;
      this.#awaiting.mark(seq, now);
      this.#unsaved.push([seq, now]);
      this.#acked = true;
      this.#totals.rows -= 1;
      this.#totals.bytes -= row.size;
    }
    this.#awaiting.evict(now);
  }

  /**
   * Commits what is deferred, with the caller's writes when it ran them in the
   * open transaction. `inserted`: the caller stored a newer frame in it, whose
   * row holds the identity; otherwise acks save it (an identity issued since
   * the newest row, its frame never stored, is then not reused either).
   */
  commit(inserted = false): void {
    // An error such as SQLITE_FULL or an I/O error may have rolled the transaction back (the owner
    // reloaded its counters): its acks are applied again in a new one; attempt counts are lost.
    if (!this.#db.inTransaction) {
      const redo = this.#unsaved;
      this.#unsaved = [];
      this.#acked = false;
      for (const [seq, at] of redo) this.ack([seq], at);
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (!this.#db.inTransaction) return;
    if (this.#acked && !inserted) this.#identity.save();
    this.#db.exec('COMMIT');
    this.#acked = false; // after the COMMIT: a failed one saves the identity again next time
    this.#unsaved = [];
  }
}
