/**
 * Writes the outbox may lose in a crash, deferred so they cost no page of
 * their own: deleting acknowledged frames and counting publish attempts.
 * They go into one open transaction that the next durable write commits
 * (an enqueue, an answer, an eviction, close), or a timer after
 * DEFERRED_COMMIT_MS when nothing else writes.
 *
 * Why: at 10 frames/s the queue is mostly empty, so the frames table is one
 * page; each frame used to rewrite it three times (insert, attempt, delete)
 * plus the meta page (the identity), 12.7 KB of WAL per 3.2 KB frame. With
 * the attempt and the delete riding on the next insert's commit, the page is
 * written once per frame (bench/footprint/disk-writes.ts).
 *
 * What a crash costs: frames acknowledged in the last second are sent again
 * (the cloud answers a frame id once) and attempts are under-counted. Nothing
 * enqueued is lost: enqueues still commit before they return. The identity is
 * saved when a deferred delete commits without an insert after it, so a
 * restart never reuses a sequence whose frame left the queue.
 */
import type Database from 'better-sqlite3';
import type { OutboxStatements } from './outbox-database.ts';
import type { QueueTotals } from './outbox-eviction.ts';
import type { OutboxIdentity } from './outbox-identity.ts';

export const DEFERRED_COMMIT_MS = 1000;

export class DeferredWrites {
  readonly #db: Database.Database;
  readonly #statements: OutboxStatements;
  readonly #totals: QueueTotals;
  readonly #identity: OutboxIdentity;
  #timer: NodeJS.Timeout | null = null;
  #deleted = false;

  constructor(db: Database.Database, statements: OutboxStatements, totals: QueueTotals, identity: OutboxIdentity) {
    this.#db = db;
    this.#statements = statements;
    this.#totals = totals;
    this.#identity = identity;
  }

  #begin(): void {
    if (!this.#db.inTransaction) this.#db.exec('BEGIN IMMEDIATE');
    this.#timer ??= setTimeout(() => this.commit(), DEFERRED_COMMIT_MS).unref();
  }

  markAttempt(sequence: number): void {
    this.#begin();
    this.#statements.attempt.run(sequence);
  }

  ack(sequences: readonly number[]): void {
    if (sequences.length === 0) return;
    this.#begin();
    for (const seq of sequences) {
      const row = this.#statements.sizeOf.get(seq);
      if (!row) continue;
      this.#statements.deleteSeq.run(seq);
      this.#deleted = true;
      this.#totals.rows -= 1;
      this.#totals.bytes -= row.size;
    }
  }

  /**
   * Commits what is deferred, with the caller's writes when it ran them in the
   * open transaction. `inserted`: the caller stored a newer frame in it, whose
   * row holds the identity, so the meta page need not be written.
   */
  commit(inserted = false): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    // An error such as SQLITE_FULL may have rolled the transaction back: nothing is left to commit.
    if (!this.#db.inTransaction) {
      this.#deleted = false;
      return;
    }
    if (this.#deleted && !inserted) this.#identity.save();
    this.#deleted = false;
    this.#db.exec('COMMIT');
  }
}
