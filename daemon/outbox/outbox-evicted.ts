/**
 * The names of frames the outbox evicted (drop-oldest, drop-newest, TTL), in
 * the outbox file itself, written in the transaction that evicts: counters
 * alone cannot tell an evicted frame from a lost one when both happen, and a
 * log line dies with a killed process. Bounded: the newest EVICTED_IDS_KEPT
 * are kept (about 80 bytes each), the oldest go first.
 */
import type Database from 'better-sqlite3';
import type { EvictionReason } from './outbox.ts';

export const EVICTED_IDS_KEPT = 4096;

export interface EvictedFrame {
  sequence: number;
  frameId: string;
  reason: EvictionReason;
  evictedAt: number;
}

export class EvictedRecord {
  readonly #keep: number;
  readonly #s;
  #count: number;

  constructor(db: Database.Database, keep = EVICTED_IDS_KEPT) {
    db.exec('CREATE TABLE IF NOT EXISTS evicted (seq INTEGER PRIMARY KEY, frame_id TEXT NOT NULL, reason TEXT NOT NULL, evicted_at INTEGER NOT NULL)');
    this.#keep = keep;
    this.#s = {
      idOf: db.prepare<[number], { frame_id: string }>('SELECT frame_id FROM frames WHERE seq = ?'),
      insert: db.prepare<[number, string, string, number]>('INSERT OR REPLACE INTO evicted (seq, frame_id, reason, evicted_at) VALUES (?, ?, ?, ?)'),
      trim: db.prepare<[number]>('DELETE FROM evicted WHERE seq IN (SELECT seq FROM evicted ORDER BY seq ASC LIMIT ?)'),
      count: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM evicted'),
      list: db.prepare<[number], { seq: number; frame_id: string; reason: EvictionReason; evicted_at: number }>('SELECT seq, frame_id, reason, evicted_at FROM evicted ORDER BY seq DESC LIMIT ?'),
    };
    this.#count = this.#s.count.get()!.n;
  }

  /** The frame id of a queued frame about to be evicted (read before its row goes). */
  idOf(sequence: number): string | undefined {
    return this.#s.idOf.get(sequence)?.frame_id;
  }

  /** Names an evicted frame; inside the evicting transaction, after its row was deleted (the freed page takes the record). */
  note(sequence: number, frameId: string, reason: EvictionReason, now = Date.now()): void {
    this.#s.insert.run(sequence, frameId, reason, now);
    this.#count += 1;
    if (this.#count > this.#keep) this.#count -= this.#s.trim.run(this.#count - this.#keep).changes;
  }

  /** The most recently evicted frames, newest first. */
  list(limit = this.#keep): EvictedFrame[] {
    return this.#s.list.all(limit).map((row) => ({ sequence: row.seq, frameId: row.frame_id, reason: row.reason, evictedAt: row.evicted_at }));
  }

  /** After a rolled-back transaction. */
  reload(): void {
    this.#count = this.#s.count.get()!.n;
  }
}
