/**
 * Removing frames from the oldest end (drop-oldest and TTL), inside the
 * caller's transaction. The totals are the in-memory mirror of the frames
 * table; the identity is saved before the last stored row goes, so a restart
 * never reuses its sequence.
 */
import type { OutboxStatements } from './outbox-database.ts';
import type { OutboxIdentity } from './outbox-identity.ts';

export interface QueueTotals {
  rows: number;
  bytes: number;
}

export function dropOldest(statements: OutboxStatements, totals: QueueTotals, identity: OutboxIdentity): boolean {
  const oldest = statements.oldest.get();
  if (!oldest) return false;
  if (totals.rows === 1) identity.save();
  statements.deleteSeq.run(oldest.seq);
  totals.rows -= 1;
  totals.bytes -= oldest.size;
  return true;
}

/** Evicts from the oldest end while frames were captured before `cutoff` (sequence order, so a clock jump cannot hide old frames). */
export function expireBefore(statements: OutboxStatements, totals: QueueTotals, identity: OutboxIdentity, cutoff: number): number {
  let removed = 0;
  for (;;) {
    const batch = statements.oldestFew.all();
    let stop = batch.length === 0;
    for (const row of batch) {
      if (row.captured_at >= cutoff) {
        stop = true;
        break;
      }
      if (totals.rows === 1) identity.save();
      statements.deleteSeq.run(row.seq);
      totals.rows -= 1;
      totals.bytes -= row.size;
      removed += 1;
    }
    if (stop) return removed;
  }
}
