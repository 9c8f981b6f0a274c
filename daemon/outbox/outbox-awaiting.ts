/**
 * Frames the broker acknowledged whose answer has not come yet. They stay in
 * the frames table, acked_at set and payload emptied, until their answer is
 * stored (deleted in the answer's own transaction) or the bound evicts them:
 * so the board knows, even after a crash (no stop hook runs), which answers
 * are its own (issue 15's flood protection without losing real answers).
 *
 * Why in the frames row and not in a table or file of its own: the ack rides
 * on the next commit (outbox-deferred.ts) and rewrites the frames page that
 * commit writes anyway, so being awaited costs no page write; a second table
 * would cost one page per frame (bench/footprint/disk-writes.ts).
 *
 * Bounds: answers are accepted for `windowMs` after the ack; the row is
 * deleted by the first enqueue or ack after that plus 1/16 of the window
 * (nothing is written just to evict), and at most `max` rows are kept (the
 * oldest acknowledged go first). Evictions go in batches so the oldest end's pages are rewritten
 * once per batch, not once per frame.
 */
import type { OutboxStatements } from './outbox-database.ts';
import type { OutboxIdentity } from './outbox-identity.ts';

export const DEFAULT_ANSWER_WINDOW_MS = 10 * 60_000;
export const DEFAULT_MAX_AWAITING = 10_000;
const BATCH = 64;

export class AwaitingAnswers {
  readonly #statements: OutboxStatements;
  readonly #identity: OutboxIdentity;
  readonly #windowMs: number;
  readonly #max: number;
  /** Sequence -> acked at, in ack order: the first is the oldest acknowledged. */
  readonly #rows = new Map<number, number>();

  constructor(statements: OutboxStatements, identity: OutboxIdentity, options: { windowMs?: number; max?: number } = {}) {
    this.#statements = statements;
    this.#identity = identity;
    this.#windowMs = options.windowMs ?? DEFAULT_ANSWER_WINDOW_MS;
    this.#max = options.max ?? DEFAULT_MAX_AWAITING;
    this.reload();
  }

  get count(): number {
    return this.#rows.size;
  }

  /** From the file: at open and after a rolled-back transaction. */
  reload(): void {
    this.#rows.clear();
    const rows = this.#statements.awaiting.all().sort((a, b) => a.acked_at - b.acked_at || a.seq - b.seq);
    for (const row of rows) this.#rows.set(row.seq, row.acked_at);
  }

  /** Inside the open transaction: the queued frame `seq` was acknowledged. */
  mark(seq: number, now: number): void {
    this.#statements.markAcked.run(now, seq);
    this.#rows.set(seq, now);
  }

  /** An answer is still accepted for a row acknowledged at `ackedAt` (null: still queued): within the window, even before a write evicts it. */
  accepts(ackedAt: number | null, now: number): boolean {
    return ackedAt === null || ackedAt >= now - this.#windowMs;
  }

  /** Its answer was stored and the row deleted by the caller. */
  forget(seq: number): void {
    this.#rows.delete(seq);
  }

  /** Inside a transaction: deletes rows past the bounds; returns how many. */
  evict(now: number): number {
    const victims: number[] = [];
    const cutoff = now - this.#windowMs;
    const first = this.#rows.values().next();
    const overCount = this.#rows.size > this.#max;
    const overAge = !first.done && first.value < cutoff - this.#windowMs / 16;
    if (!overCount && !overAge) return 0;
    const keep = overCount ? Math.max(this.#max - BATCH, 0) : this.#rows.size;
    for (const [seq, ackedAt] of this.#rows) {
      if (this.#rows.size - victims.length <= keep && ackedAt >= cutoff) break;
      victims.push(seq);
    }
    this.deleteRows(victims);
    for (const seq of victims) this.#rows.delete(seq);
    return victims.length;
  }

  /** Deletes rows by sequence; the identity is saved first when the newest row goes (outbox-identity.ts). */
  deleteRows(seqs: readonly number[]): void {
    if (seqs.length === 0) return;
    const newest = this.#statements.newest.get()?.seq;
    if (newest !== undefined && seqs.some((seq) => seq >= newest)) this.#identity.save();
    for (const seq of seqs) this.#statements.deleteSeq.run(seq);
  }
}

/**
 * The row holding `frameId`, found without an index on frame_id (one would
 * cost a page write per frame): ids are issued with increasing sequences and
 * UUIDv7 ids increase too, so the frames table is ordered by both, and a
 * binary search over the primary key finds it in about 40 point reads.
 */
export function findFrame(statements: OutboxStatements, frameId: string, lastSequence: number): { seq: number; ackedAt: number | null } | null {
  let lo = 0;
  let hi = lastSequence;
  while (lo <= hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const row = statements.firstFrom.get(mid);
    if (!row) {
      hi = mid - 1;
    } else if (row.frame_id === frameId) {
      return { seq: row.seq, ackedAt: row.acked_at };
    } else if (row.frame_id < frameId) {
      lo = row.seq + 1;
    } else {
      hi = mid - 1;
    }
  }
  return null;
}
