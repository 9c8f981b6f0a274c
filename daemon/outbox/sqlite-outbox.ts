/**
 * Outbox on better-sqlite3. One file, WAL mode. Each enqueue is one
 * transaction (a frame is durable before it can be published); acks are
 * cheap deletes the publisher batches. Payload bytes are bounded by the
 * limits; the file itself by `max_page_count`, so even a miscounted bound
 * ends in SQLITE_FULL (handled as "full") rather than a filled disk.
 */
import { statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { FrameIdGenerator } from '../../protocol/wire/frame-id.ts';
import {
  OutboxFullError,
  type DeliveryOrder,
  type EnqueueResult,
  type EvictionReason,
  type FrameIdentity,
  type Outbox,
  type OutboxLimits,
  type OutboxStats,
  type QueuedFrame,
  type StoredAnswer,
} from './outbox.ts';

export type Synchronous = 'off' | 'normal' | 'full' | 'extra';

export interface SqliteOutboxOptions {
  path: string;
  limits: OutboxLimits;
  /**
   * Free space the file system must keep: below it the outbox counts as full
   * (drop-oldest evicts, the others refuse). SQLite's WAL needs room for every
   * write, deletions included, so a disk filled to the last byte could no
   * longer even evict.
   */
  minFreeBytes?: number;
  order?: DeliveryOrder;
  synchronous?: Synchronous;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS frames (
  seq INTEGER PRIMARY KEY,
  frame_id TEXT NOT NULL,
  captured_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  bytes BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
  frame_id TEXT PRIMARY KEY,
  received_at INTEGER NOT NULL,
  payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_received ON answers (received_at);
`;
const PAGE_SIZE = 4096;
/** Room for the schema, indexes, answers and page slack beyond the payload bound. */
const FILE_OVERHEAD_FACTOR = 1.5;
const FILE_OVERHEAD_BYTES = 8 * 1024 * 1024;

interface FrameRow {
  seq: number;
  frame_id: string;
  captured_at: number;
  attempts: number;
  bytes: Buffer;
}

export class SqliteOutbox implements Outbox {
  readonly #db: Database.Database;
  readonly #limits: OutboxLimits;
  readonly #path: string;
  readonly #minFreeBytes: number;
  readonly #order: DeliveryOrder;
  readonly #ids: FrameIdGenerator;
  #lastSequence: number;
  #lastFrameId: string | null;
  #rows = 0;
  #bytes = 0;
  #answers: number;
  readonly #evicted: Record<EvictionReason, number> = { 'drop-oldest': 0, 'drop-newest': 0, ttl: 0 };
  #rejected = 0;
  readonly #statements;

  constructor(options: SqliteOutboxOptions) {
    this.#limits = options.limits;
    this.#path = options.path;
    this.#minFreeBytes = options.minFreeBytes ?? 8 * 1024 * 1024;
    this.#order = options.order ?? 'oldest-first';
    this.#db = new Database(options.path);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma(`synchronous = ${(options.synchronous ?? 'full').toUpperCase()}`);
    this.#db.pragma(`page_size = ${PAGE_SIZE}`);
    // Small WAL: checkpoint every 256 KiB and truncate back to 1 MiB, so the log
    // cannot take a small card's last megabytes.
    this.#db.pragma('wal_autocheckpoint = 64');
    this.#db.pragma(`journal_size_limit = ${1024 * 1024}`);
    this.#db.exec(SCHEMA);
    const maxPages = Math.ceil((options.limits.maxBytes * FILE_OVERHEAD_FACTOR + FILE_OVERHEAD_BYTES) / PAGE_SIZE);
    this.#db.pragma(`max_page_count = ${maxPages}`);
    const db = this.#db;
    this.#statements = {
      getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare<[string, string]>('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      insert: db.prepare<[number, string, number, Buffer]>('INSERT INTO frames (seq, frame_id, captured_at, bytes) VALUES (?, ?, ?, ?)'),
      oldest: db.prepare<[], { seq: number; size: number }>('SELECT seq, length(bytes) AS size FROM frames ORDER BY seq ASC LIMIT 1'),
      deleteSeq: db.prepare<[number]>('DELETE FROM frames WHERE seq = ?'),
      sizeOf: db.prepare<[number], { size: number }>('SELECT length(bytes) AS size FROM frames WHERE seq = ?'),
      oldestFew: db.prepare<[], { seq: number; captured_at: number; size: number }>('SELECT seq, captured_at, length(bytes) AS size FROM frames ORDER BY seq ASC LIMIT 64'),
      newest: db.prepare<[], { seq: number; frame_id: string }>('SELECT seq, frame_id FROM frames ORDER BY seq DESC LIMIT 1'),
      peekOldest: db.prepare<[number], FrameRow>('SELECT seq, frame_id, captured_at, attempts, bytes FROM frames ORDER BY seq ASC LIMIT ?'),
      peekNewest: db.prepare<[number], FrameRow>('SELECT seq, frame_id, captured_at, attempts, bytes FROM frames ORDER BY seq DESC LIMIT ?'),
      attempt: db.prepare<[number]>('UPDATE frames SET attempts = attempts + 1 WHERE seq = ?'),
      all: db.prepare<[], FrameRow>('SELECT seq, frame_id, captured_at, attempts, bytes FROM frames ORDER BY seq ASC'),
      totals: db.prepare<[], { rows: number; bytes: number | null }>('SELECT count(*) AS rows, sum(length(bytes)) AS bytes FROM frames'),
      // The oldest by sequence (the primary key): stats() runs per frame, and a min()
      // over captured_at would scan the whole queue without an index.
      oldestCapture: db.prepare<[], { at: number }>('SELECT captured_at AS at FROM frames ORDER BY seq ASC LIMIT 1'),
      insertAnswer: db.prepare<[string, number, string]>('INSERT OR IGNORE INTO answers (frame_id, received_at, payload) VALUES (?, ?, ?)'),
      trimAnswers: db.prepare<[number]>('DELETE FROM answers WHERE frame_id IN (SELECT frame_id FROM answers ORDER BY received_at ASC, rowid ASC LIMIT ?)'),
      countAnswers: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM answers'),
      answers: db.prepare<[number, number], StoredAnswer>('SELECT frame_id AS frameId, received_at AS receivedAt, payload FROM answers WHERE received_at > ? ORDER BY received_at ASC, rowid ASC LIMIT ?'),
      purge: db.prepare('DELETE FROM frames'),
    };
    this.#reload();
    this.#answers = this.#statements.countAnswers.get()!.n;
    // The newest identity is the newest stored row's, or, once that row is gone, the one
    // written to meta when it was removed.
    const newest = this.#statements.newest.get();
    const metaSequence = Number(this.#statements.getMeta.get('last_sequence')?.value ?? 0);
    const useRow = newest !== undefined && newest.seq > metaSequence;
    this.#lastSequence = useRow ? newest.seq : metaSequence;
    this.#lastFrameId = useRow ? newest.frame_id : (this.#statements.getMeta.get('last_frame_id')?.value ?? null);
    this.#ids = new FrameIdGenerator(this.#lastFrameId ? { after: this.#lastFrameId } : {});
  }

  nextIdentity(): FrameIdentity {
    this.#lastSequence += 1;
    this.#lastFrameId = this.#ids.next();
    return { sequence: this.#lastSequence, frameId: this.#lastFrameId };
  }

  enqueue(frame: Omit<QueuedFrame, 'attempts'>, now = Date.now()): EnqueueResult {
    if (frame.bytes.length > this.#limits.maxBytes) {
      throw new OutboxFullError(`frame of ${frame.bytes.length} bytes exceeds the outbox byte bound ${this.#limits.maxBytes}`);
    }
    const evictedForSpace: Partial<Record<EvictionReason, number>> = {};
    // SQLITE_FULL (the file's page cap, or the disk itself) rolls the transaction back;
    // under drop-oldest, free the oldest frame and try again, otherwise refuse the frame.
    for (let attempt = 0; ; attempt++) {
      try {
        const result = this.#enqueueOnce(frame, now);
        for (const [reason, n] of Object.entries(evictedForSpace)) result.evicted[reason as EvictionReason] = (result.evicted[reason as EvictionReason] ?? 0) + n;
        return result;
      } catch (error) {
        this.#reload(); // the rolled-back transaction may have changed our counters
        if ((error as { code?: string }).code !== 'SQLITE_FULL') throw error;
        if (this.#limits.policy !== 'drop-oldest' || attempt >= 256 || !this.#evictForSpace()) {
          throw new OutboxFullError(`outbox storage is full (database page limit or disk; ${this.#rows} frames, ${this.#bytes} bytes queued): frame ${frame.sequence} refused`);
        }
        evictedForSpace['drop-oldest'] = (evictedForSpace['drop-oldest'] ?? 0) + 1;
      }
    }
  }

  #enqueueOnce(frame: Omit<QueuedFrame, 'attempts'>, now: number): EnqueueResult {
    const size = frame.bytes.length;
    const evicted: Partial<Record<EvictionReason, number>> = {};
    const count = (reason: EvictionReason, n = 1) => {
      evicted[reason] = (evicted[reason] ?? 0) + n;
      this.#evicted[reason] += n;
      this.#statements.setMeta.run(`evicted_${reason}`, String(this.#evicted[reason]));
    };
    const accepted = this.#db.transaction((): boolean => {
      const expired = this.#expire(now);
      if (expired) count('ttl', expired);
      while (this.#rows + 1 > this.#limits.maxRows || this.#bytes + size > this.#limits.maxBytes || this.#diskLow(size)) {
        if (this.#limits.policy === 'drop-oldest') {
          if (!this.#dropOldest()) break;
          count('drop-oldest');
        } else if (this.#limits.policy === 'drop-newest') {
          count('drop-newest');
          this.#saveIdentity();
          return false;
        } else {
          this.#saveIdentity();
          this.#rejected += 1;
          this.#statements.setMeta.run('rejected', String(this.#rejected));
          return false;
        }
      }
      this.#statements.insert.run(frame.sequence, frame.frameId, frame.capturedAt, Buffer.from(frame.bytes.buffer, frame.bytes.byteOffset, frame.bytes.byteLength));
      this.#rows += 1;
      this.#bytes += size;
      return true;
    })();
    if (!accepted && this.#limits.policy === 'reject') {
      throw new OutboxFullError(`outbox full (${this.#fullReason(size)}): frame ${frame.sequence} rejected`);
    }
    return { accepted, evicted };
  }

  /**
   * Deletes the oldest frame in a transaction of its own; false if none is left or
   * the storage refuses even that. On a full disk the WAL is what fills it: fold it
   * into the database first (freed pages there are reused by the next insert).
   */
  #evictForSpace(): boolean {
    this.#checkpoint();
    try {
      const dropped = this.#db.transaction(() => {
        if (!this.#dropOldest()) return false;
        this.#evicted['drop-oldest'] += 1;
        this.#statements.setMeta.run('evicted_drop-oldest', String(this.#evicted['drop-oldest']));
        return true;
      })();
      this.#checkpoint();
      return dropped;
    } catch (error) {
      this.#reload();
      if ((error as { code?: string }).code === 'SQLITE_FULL') return false;
      throw error;
    }
  }

  /** Folds the WAL into the database and truncates it; a full disk may refuse, which is fine. */
  #checkpoint(): void {
    try {
      this.#db.pragma('wal_checkpoint(TRUNCATE)');
    } catch (error) {
      if ((error as { code?: string }).code !== 'SQLITE_FULL') throw error;
    }
  }

  /**
   * True when writing `bytes` more would leave less than the reserved free space.
   * Pages freed inside the database file count as free: the next insert reuses them.
   */
  #diskLow(bytes: number): boolean {
    if (this.#path === ':memory:' || this.#minFreeBytes <= 0) return false;
    const fs = statfsSync(dirname(resolve(this.#path)));
    const reusable = (this.#db.pragma('freelist_count', { simple: true }) as number) * PAGE_SIZE;
    return fs.bavail * fs.bsize + reusable - 2 * bytes < this.#minFreeBytes;
  }

  #fullReason(size: number): string {
    if (this.#diskLow(size)) return `disk: less than ${this.#minFreeBytes} bytes would stay free`;
    return `${this.#rows} frames, ${this.#bytes} bytes; bounds ${this.#limits.maxRows} frames, ${this.#limits.maxBytes} bytes`;
  }

  /** Counters from the database itself, after a transaction was rolled back. */
  #reload(): void {
    const totals = this.#statements.totals.get()!;
    this.#rows = totals.rows;
    this.#bytes = totals.bytes ?? 0;
    for (const reason of Object.keys(this.#evicted) as EvictionReason[]) {
      this.#evicted[reason] = Number(this.#statements.getMeta.get(`evicted_${reason}`)?.value ?? 0);
    }
    this.#rejected = Number(this.#statements.getMeta.get('rejected')?.value ?? 0);
  }

  /**
   * Persists the newest identity issued. Needed only when no stored row holds it any
   * more (it was acknowledged, evicted or never stored), so it is written with
   * deletions, not with every insert: one page less per frame on an SD card.
   */
  #saveIdentity(): void {
    this.#statements.setMeta.run('last_sequence', String(this.#lastSequence));
    if (this.#lastFrameId) this.#statements.setMeta.run('last_frame_id', this.#lastFrameId);
  }

  #dropOldest(): boolean {
    const oldest = this.#statements.oldest.get();
    if (!oldest) return false;
    if (this.#rows === 1) this.#saveIdentity();
    this.#statements.deleteSeq.run(oldest.seq);
    this.#rows -= 1;
    this.#bytes -= oldest.size;
    return true;
  }

  /** Evicts from the oldest end while frames are past their TTL (sequence order, so a clock jump cannot hide old frames). */
  #expire(now: number): number {
    if (this.#limits.ttlMs <= 0) return 0;
    const cutoff = now - this.#limits.ttlMs;
    let removed = 0;
    for (;;) {
      const batch = this.#statements.oldestFew.all();
      let stop = batch.length === 0;
      for (const row of batch) {
        if (row.captured_at >= cutoff) {
          stop = true;
          break;
        }
        if (this.#rows === 1) this.#saveIdentity();
        this.#statements.deleteSeq.run(row.seq);
        this.#rows -= 1;
        this.#bytes -= row.size;
        removed += 1;
      }
      if (stop) return removed;
    }
  }

  expire(now = Date.now()): number {
    const n = this.#db.transaction(() => this.#expire(now))();
    if (n) {
      this.#evicted.ttl += n;
      this.#statements.setMeta.run('evicted_ttl', String(this.#evicted.ttl));
    }
    return n;
  }

  peek(limit: number, exclude: ReadonlySet<number> = new Set()): QueuedFrame[] {
    const statement = this.#order === 'oldest-first' ? this.#statements.peekOldest : this.#statements.peekNewest;
    const rows = statement.all(limit + exclude.size);
    const out: QueuedFrame[] = [];
    for (const row of rows) {
      if (exclude.has(row.seq)) continue;
      out.push(toFrame(row));
      if (out.length === limit) break;
    }
    return out;
  }

  markAttempt(sequence: number): void {
    this.#statements.attempt.run(sequence);
  }

  ack(sequences: readonly number[]): void {
    if (sequences.length === 0) return;
    this.#db.transaction(() => {
      this.#saveIdentity();
      for (const seq of sequences) {
        const row = this.#statements.sizeOf.get(seq);
        if (!row) continue;
        this.#statements.deleteSeq.run(seq);
        this.#rows -= 1;
        this.#bytes -= row.size;
      }
    })();
  }

  stats(): OutboxStats {
    return {
      rows: this.#rows,
      bytes: this.#bytes,
      oldestCapturedAt: this.#statements.oldestCapture.get()?.at ?? null,
      evicted: { ...this.#evicted },
      rejected: this.#rejected,
      answers: this.#answers,
      lastSequence: this.#lastSequence,
    };
  }

  storeAnswer(frameId: string, payload: string, receivedAt = Date.now()): boolean {
    return this.#db.transaction(() => {
      const inserted = this.#statements.insertAnswer.run(frameId, receivedAt, payload).changes === 1;
      if (!inserted) return false;
      this.#answers += 1;
      if (this.#answers > this.#limits.maxAnswers) {
        this.#answers -= this.#statements.trimAnswers.run(this.#answers - this.#limits.maxAnswers).changes;
      }
      return true;
    })();
  }

  answers(options: { limit?: number; afterReceivedAt?: number } = {}): StoredAnswer[] {
    return this.#statements.answers.all(options.afterReceivedAt ?? -1, options.limit ?? 100);
  }

  *all(): IterableIterator<QueuedFrame> {
    for (const row of this.#statements.all.iterate()) yield toFrame(row);
  }

  purge(): number {
    this.#saveIdentity();
    const removed = this.#statements.purge.run().changes;
    this.#rows = 0;
    this.#bytes = 0;
    return removed;
  }

  close(): void {
    if (!this.#db.open) return;
    this.#checkpoint(); // the next start then reads one file
    this.#db.close();
  }
}

function toFrame(row: FrameRow): QueuedFrame {
  return { sequence: row.seq, frameId: row.frame_id, capturedAt: row.captured_at, attempts: row.attempts, bytes: new Uint8Array(row.bytes) };
}
