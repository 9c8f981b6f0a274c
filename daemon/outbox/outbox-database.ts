/**
 * The outbox's SQLite file: opening it (its folder created when missing, a
 * failure named by the setting and path), the pragmas, the schema and the
 * prepared statements. One file, WAL mode; the file is bounded by
 * `max_page_count`, so even a miscounted bound ends in SQLITE_FULL (handled
 * as "full") rather than a filled disk.
 */
import Database from 'better-sqlite3';
import { UserError } from '../../protocol/errors.ts';
import { ensureStateFile } from '../../runtime/state-paths.ts';
import type { DeliveryOrder, QueuedFrame, StoredAnswer } from './outbox.ts';

export type Synchronous = 'off' | 'normal' | 'full' | 'extra';

/** The outbox file exists but SQLite cannot open it (not a database, locked, unreadable). */
export class OutboxOpenError extends UserError {
  override readonly name = 'OutboxOpenError';
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS frames (
  seq INTEGER PRIMARY KEY,
  frame_id TEXT NOT NULL,
  captured_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  bytes BLOB NOT NULL,
  acked_at INTEGER
);
CREATE TABLE IF NOT EXISTS answers (
  frame_id TEXT PRIMARY KEY,
  received_at INTEGER NOT NULL,
  payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_received ON answers (received_at);
`;
/*
 * Newest-first delivery: the newest frames are sent and acknowledged first, so
 * the rows awaiting answers sit at the newest end, between it and the backlog;
 * peekNewest walked all of them on every peek (10,000 awaiting rows: 10,000
 * visited). This partial index holds queued rows only, so the walk starts at
 * the newest queued one. It costs an index page per commit, so it exists only
 * for newest-first (oldest-first reads start at a floor instead, no index:
 * the disk writes per frame stay as bench/footprint/disk-writes.ts measures).
 */
const QUEUED_INDEX = 'CREATE INDEX IF NOT EXISTS frames_queued ON frames (seq) WHERE acked_at IS NULL';
export const PAGE_SIZE = 4096;
/** Room for the schema, indexes, answers and page slack beyond the payload bound. */
const FILE_OVERHEAD_FACTOR = 1.5;
const FILE_OVERHEAD_BYTES = 8 * 1024 * 1024;

export interface FrameRow {
  seq: number;
  frame_id: string;
  captured_at: number;
  attempts: number;
  bytes: Buffer;
}

/**
 * Opens (creating if needed) the outbox file at `path`; `setting` names it in
 * errors. The folder is created with safe modes when its parent allows it.
 */
export function openOutboxDatabase(path: string, options: { maxBytes: number; synchronous: Synchronous; setting?: string; order?: DeliveryOrder }): Database.Database {
  const setting = options.setting ?? 'outbox.path';
  ensureStateFile(path, setting);
  let db: Database.Database;
  try {
    db = new Database(path);
    db.pragma('journal_mode = WAL');
  } catch (error) {
    throw new OutboxOpenError(`${setting} ${path}: cannot open the outbox database (${(error as Error).message})`);
  }
  db.pragma(`synchronous = ${options.synchronous.toUpperCase()}`);
  db.pragma(`page_size = ${PAGE_SIZE}`);
  // Small WAL: checkpoint every 256 KiB and truncate back to 1 MiB, so the log
  // cannot take a small card's last megabytes.
  db.pragma('wal_autocheckpoint = 64');
  db.pragma(`journal_size_limit = ${1024 * 1024}`);
  try {
    db.exec(SCHEMA);
    addAckedColumn(db);
    db.exec(options.order === 'newest-first' ? QUEUED_INDEX : 'DROP INDEX IF EXISTS frames_queued');
  } catch (error) {
    db.close();
    throw new OutboxOpenError(`${setting} ${path}: not an outbox database (${(error as Error).message})`);
  }
  const maxPages = Math.ceil((options.maxBytes * FILE_OVERHEAD_FACTOR + FILE_OVERHEAD_BYTES) / PAGE_SIZE);
  db.pragma(`max_page_count = ${maxPages}`);
  return db;
}

/**
 * Files made before answers were awaited in the outbox lack `acked_at`: added
 * in place (ALTER TABLE ADD COLUMN rewrites no row; their frames are all queued).
 */
function addAckedColumn(db: Database.Database): void {
  const columns = db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('frames')").all();
  if (!columns.some((c) => c.name === 'acked_at')) db.exec('ALTER TABLE frames ADD COLUMN acked_at INTEGER');
}

/*
 * A row is a queued frame while acked_at is NULL; once the broker acknowledged
 * it, a frame awaiting its answer (payload emptied, outbox-awaiting.ts). The
 * queries of queued frames from the oldest end take a floor: a sequence below
 * which no queued row is (SqliteOutbox keeps it), so they do not walk over the
 * awaiting rows, which gather at that end.
 */
export function prepareStatements(db: Database.Database) {
  return {
    getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
    setMeta: db.prepare<[string, string]>('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
    insert: db.prepare<[number, string, number, Buffer]>('INSERT INTO frames (seq, frame_id, captured_at, bytes) VALUES (?, ?, ?, ?)'),
    oldest: db.prepare<[number], { seq: number; size: number }>('SELECT seq, length(bytes) AS size FROM frames WHERE seq >= ? AND acked_at IS NULL ORDER BY seq ASC LIMIT 1'),
    deleteSeq: db.prepare<[number]>('DELETE FROM frames WHERE seq = ?'),
    sizeOf: db.prepare<[number], { size: number }>('SELECT length(bytes) AS size FROM frames WHERE seq = ? AND acked_at IS NULL'),
    markAcked: db.prepare<[number, number]>("UPDATE frames SET acked_at = ?, bytes = x'' WHERE seq = ?"),
    firstFrom: db.prepare<[number], { seq: number; frame_id: string; acked_at: number | null }>('SELECT seq, frame_id, acked_at FROM frames WHERE seq >= ? ORDER BY seq ASC LIMIT 1'),
    awaiting: db.prepare<[], { seq: number; acked_at: number }>('SELECT seq, acked_at FROM frames WHERE acked_at IS NOT NULL'),
    oldestFew: db.prepare<[number], { seq: number; captured_at: number; size: number }>(
      'SELECT seq, captured_at, length(bytes) AS size FROM frames WHERE seq >= ? AND acked_at IS NULL ORDER BY seq ASC LIMIT 64',
    ),
    newest: db.prepare<[], { seq: number; frame_id: string }>('SELECT seq, frame_id FROM frames ORDER BY seq DESC LIMIT 1'),
    peekOldest: db.prepare<[number, number], FrameRow>('SELECT seq, frame_id, captured_at, attempts, bytes FROM frames WHERE seq >= ? AND acked_at IS NULL ORDER BY seq ASC LIMIT ?'),
    peekNewest: db.prepare<[number], FrameRow>('SELECT seq, frame_id, captured_at, attempts, bytes FROM frames WHERE acked_at IS NULL ORDER BY seq DESC LIMIT ?'),
    attempt: db.prepare<[number]>('UPDATE frames SET attempts = attempts + 1 WHERE seq = ?'),
    all: db.prepare<[], FrameRow>('SELECT seq, frame_id, captured_at, attempts, bytes FROM frames WHERE acked_at IS NULL ORDER BY seq ASC'),
    totals: db.prepare<[], { rows: number; bytes: number | null }>('SELECT count(*) AS rows, sum(length(bytes)) AS bytes FROM frames WHERE acked_at IS NULL'),
    // The oldest by sequence (the primary key): stats() runs per frame, and a min()
    // over captured_at would scan the whole queue without an index.
    oldestCapture: db.prepare<[number], { seq: number; at: number }>('SELECT seq, captured_at AS at FROM frames WHERE seq >= ? AND acked_at IS NULL ORDER BY seq ASC LIMIT 1'),
    insertAnswer: db.prepare<[string, number, string]>('INSERT OR IGNORE INTO answers (frame_id, received_at, payload) VALUES (?, ?, ?)'),
    trimAnswers: db.prepare<[number]>('DELETE FROM answers WHERE frame_id IN (SELECT frame_id FROM answers ORDER BY received_at ASC, rowid ASC LIMIT ?)'),
    countAnswers: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM answers'),
    answers: db.prepare<[number, number], StoredAnswer>(
      'SELECT frame_id AS frameId, received_at AS receivedAt, payload FROM answers WHERE received_at > ? ORDER BY received_at ASC, rowid ASC LIMIT ?',
    ),
    purge: db.prepare('DELETE FROM frames WHERE acked_at IS NULL'),
  };
}

export type OutboxStatements = ReturnType<typeof prepareStatements>;

export function toFrame(row: FrameRow): QueuedFrame {
  return { sequence: row.seq, frameId: row.frame_id, capturedAt: row.captured_at, attempts: row.attempts, bytes: new Uint8Array(row.bytes) };
}
