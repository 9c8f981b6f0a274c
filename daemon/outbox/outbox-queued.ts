/**
 * Reads of the queued frames (rows not yet acknowledged). Acknowledged rows
 * awaiting their answers (outbox-awaiting.ts) gather at the oldest end, and
 * the frames table has no index on acked_at (it would cost a page write per
 * frame), so reads from that end start at a floor: a sequence below which no
 * queued row is. Each read that finds the oldest queued row raises the floor
 * to it; an insert lowers it to its sequence and a rolled-back transaction
 * resets it to 0 (the rows it had acknowledged are queued again).
 */
import { toFrame, type OutboxStatements } from './outbox-database.ts';
import type { DeliveryOrder, QueuedFrame } from './outbox.ts';

export interface QueueFloor {
  seq: number;
}

/** Up to `limit` queued frames not in `exclude`, in delivery order. */
export function peekQueued(statements: OutboxStatements, floor: QueueFloor, order: DeliveryOrder, limit: number, exclude: ReadonlySet<number>): QueuedFrame[] {
  const oldestFirst = order === 'oldest-first';
  const rows = oldestFirst ? statements.peekOldest.all(floor.seq, limit + exclude.size) : statements.peekNewest.all(limit + exclude.size);
  if (oldestFirst && rows[0]) floor.seq = rows[0].seq;
  const out: QueuedFrame[] = [];
  for (const row of rows) {
    if (exclude.has(row.seq)) continue;
    out.push(toFrame(row));
    if (out.length === limit) break;
  }
  return out;
}

/** Capture time of the oldest queued frame by sequence; null when none is queued. */
export function oldestCaptured(statements: OutboxStatements, floor: QueueFloor): number | null {
  const row = statements.oldestCapture.get(floor.seq);
  if (row) floor.seq = row.seq;
  return row?.at ?? null;
}
