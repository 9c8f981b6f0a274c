/**
 * Removing queued frames from the oldest end (drop-oldest and TTL), inside
 * the caller's transaction (frames awaiting their answers are not queued:
 * outbox-awaiting.ts bounds them). The totals are the in-memory mirror of the frames
 * table; the identity is saved before the last stored row goes, so a restart
 * never reuses its sequence; each evicted frame is named in the eviction
 * record (outbox-evicted.ts) in the same transaction.
 */
import type { OutboxStatements } from './outbox-database.ts';
import type { EvictedRecord } from './outbox-evicted.ts';
import type { OutboxIdentity } from './outbox-identity.ts';
import type { EvictionReason } from './outbox.ts';

export interface QueueTotals {
  rows: number;
  bytes: number;
}

/** What an eviction changes besides the frames table. */
export interface EvictionState {
  statements: OutboxStatements;
  totals: QueueTotals;
  identity: OutboxIdentity;
  record: EvictedRecord;
  /** No queued row has a lower sequence (outbox-database.ts): the scans start here. */
  floor: { seq: number };
}

function evict(state: EvictionState, seq: number, size: number, reason: EvictionReason): void {
  if (state.totals.rows === 1) state.identity.save();
  const frameId = state.record.idOf(seq);
  state.statements.deleteSeq.run(seq);
  if (frameId !== undefined) state.record.note(seq, frameId, reason);
  state.totals.rows -= 1;
  state.totals.bytes -= size;
}

export function dropOldest(state: EvictionState): boolean {
  const oldest = state.statements.oldest.get(state.floor.seq);
  if (!oldest) return false;
  state.floor.seq = oldest.seq;
  evict(state, oldest.seq, oldest.size, 'drop-oldest');
  return true;
}

/** Evicts from the oldest end while frames were captured before `cutoff` (sequence order, so a clock jump cannot hide old frames). */
export function expireBefore(state: EvictionState, cutoff: number): number {
  let removed = 0;
  for (;;) {
    const batch = state.statements.oldestFew.all(state.floor.seq);
    if (batch.length > 0) state.floor.seq = batch[0]!.seq;
    let stop = batch.length === 0;
    for (const row of batch) {
      if (row.captured_at >= cutoff) {
        stop = true;
        break;
      }
      evict(state, row.seq, row.size, 'ttl');
      removed += 1;
    }
    if (stop) return removed;
  }
}
