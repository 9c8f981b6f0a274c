/**
 * Answers already given, by frame id, in a small SQLite file. QoS 1 delivers
 * a frame at least once; a redelivered frame gets its stored answer again
 * instead of a second inference. The window is bounded by count and age.
 */
import Database from 'better-sqlite3';
import { UserError } from '../../protocol/errors.ts';
import { ensureStateFile } from '../../runtime/state-paths.ts';

export interface DedupLimits {
  maxEntries: number;
  ttlMs: number;
}

const PRUNE_EVERY = 256;

/** The dedup file exists but SQLite cannot open it (not a database, unreadable). */
export class DedupOpenError extends UserError {
  override readonly name = 'DedupOpenError';
}

export class DedupStore {
  readonly #db: Database.Database;
  readonly #limits: DedupLimits;
  readonly #get: Database.Statement<[string], { payload: string }>;
  readonly #put: Database.Statement<[string, number, string]>;
  readonly #pruneOld: Database.Statement<[number]>;
  readonly #pruneCount: Database.Statement<[number]>;
  readonly #newest: Database.Statement<[string], { newest: number }>;
  readonly #noteNewest: Database.Statement<[string, number]>;
  #writes = 0;

  constructor(path: string, limits: DedupLimits) {
    // The folder is created (0750) when missing; an unusable path is one line naming dedup.path.
    ensureStateFile(path, 'dedup.path');
    try {
      this.#db = new Database(path);
      this.#db.pragma('journal_mode = WAL');
    } catch (error) {
      throw new DedupOpenError(`dedup.path ${path}: cannot open the dedup database (${(error as Error).message})`);
    }
    this.#db.pragma('synchronous = NORMAL');
    this.#db.exec('CREATE TABLE IF NOT EXISTS answered (frame_id TEXT PRIMARY KEY, answered_at INTEGER NOT NULL, payload TEXT NOT NULL) WITHOUT ROWID');
    this.#db.exec('CREATE INDEX IF NOT EXISTS answered_at ON answered (answered_at)');
    this.#db.exec('CREATE TABLE IF NOT EXISTS device_sequence (device TEXT PRIMARY KEY, newest INTEGER NOT NULL) WITHOUT ROWID');
    this.#limits = limits;
    this.#get = this.#db.prepare('SELECT payload FROM answered WHERE frame_id = ?');
    this.#put = this.#db.prepare('INSERT OR REPLACE INTO answered (frame_id, answered_at, payload) VALUES (?, ?, ?)');
    this.#pruneOld = this.#db.prepare('DELETE FROM answered WHERE answered_at < ?');
    this.#pruneCount = this.#db.prepare(
      'DELETE FROM answered WHERE frame_id IN (SELECT frame_id FROM answered ORDER BY answered_at DESC LIMIT -1 OFFSET ?)',
    );
    this.#newest = this.#db.prepare('SELECT newest FROM device_sequence WHERE device = ?');
    this.#noteNewest = this.#db.prepare(
      'INSERT INTO device_sequence (device, newest) VALUES (?, ?) ON CONFLICT (device) DO UPDATE SET newest = max(newest, excluded.newest)',
    );
    this.prune();
  }

  /** The highest sequence number seen in a signed frame of the device (replay detection). */
  newestSequence(deviceId: string): number | undefined {
    return this.#newest.get(deviceId)?.newest;
  }

  noteSequence(deviceId: string, sequence: number): void {
    this.#noteNewest.run(deviceId, sequence);
  }

  /** The stored answer JSON for a frame id, if it is still in the window. */
  get(frameId: string): string | undefined {
    return this.#get.get(frameId)?.payload;
  }

  put(frameId: string, payload: string, now = Date.now()): void {
    this.#put.run(frameId, now, payload);
    if (++this.#writes % PRUNE_EVERY === 0) this.prune(now);
  }

  prune(now = Date.now()): void {
    this.#pruneOld.run(now - this.#limits.ttlMs);
    this.#pruneCount.run(this.#limits.maxEntries);
  }

  get size(): number {
    return (this.#db.prepare('SELECT count(*) AS n FROM answered').get() as { n: number }).n;
  }

  close(): void {
    this.#db.close();
  }
}
