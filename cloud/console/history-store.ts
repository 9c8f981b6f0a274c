/**
 * The console's history: one row per answer seen on the answer topics
 * (prompt, text or error, latency, bytes on the wire, codec), in a small
 * SQLite file. Bounded per device (its oldest rows go first) and in total
 * (the oldest rows of all go), so a chatty or hostile device cannot grow the
 * file without limit. Keyed by (device, frame id): an answer redelivered by
 * QoS 1 or published twice by two workers is one row.
 */
import Database from 'better-sqlite3';
import { UserError } from '../../protocol/errors.ts';
import { ensureStateFile } from '../../runtime/state-paths.ts';

/** Longest text kept per field: answers are a few sentences; anything longer is cut, not refused. */
export const HISTORY_TEXT_MAX = 4000;

export interface HistoryRow {
  device: string;
  /** null for answers to frames that could not be read. */
  frameId: string | null;
  requestId: string | null;
  prompt: string | null;
  text: string | null;
  /** `code: message` of an error answer. */
  error: string | null;
  /** Capture (the frame id's time, the board's clock) to the answer reaching the console, ms. */
  latencyMs: number | null;
  /** The worker's own time for the frame (timings.totalMs). */
  workerMs: number | null;
  /** The frame's size on the wire; null when another worker answered it. */
  bytes: number | null;
  codec: string | null;
  /** Epoch ms the console received the answer. */
  at: number;
}

export interface HistoryLimits {
  perDevice: number;
  total: number;
}

export class HistoryOpenError extends UserError {
  override readonly name = 'HistoryOpenError';
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS history (seq INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL, frame_id TEXT, request_id TEXT,
  prompt TEXT, text TEXT, error TEXT, latency_ms REAL, worker_ms REAL, bytes INTEGER, codec TEXT, at INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS history_frame ON history (device, frame_id) WHERE frame_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS history_device ON history (device, seq);
`;

const cut = (value: string | null): string | null => (value === null ? null : value.slice(0, HISTORY_TEXT_MAX));

interface DbRow {
  device: string;
  frame_id: string | null;
  request_id: string | null;
  prompt: string | null;
  text: string | null;
  error: string | null;
  latency_ms: number | null;
  worker_ms: number | null;
  bytes: number | null;
  codec: string | null;
  at: number;
}

function fromDb(r: DbRow): HistoryRow {
  return {
    device: r.device,
    frameId: r.frame_id,
    requestId: r.request_id,
    prompt: r.prompt,
    text: r.text,
    error: r.error,
    latencyMs: r.latency_ms,
    workerMs: r.worker_ms,
    bytes: r.bytes,
    codec: r.codec,
    at: r.at,
  };
}

export class HistoryStore {
  readonly #db: Database.Database;
  readonly #limits: HistoryLimits;
  readonly #s;

  constructor(path: string, limits: HistoryLimits, setting = 'console.historyPath') {
    ensureStateFile(path, setting);
    try {
      this.#db = new Database(path);
      this.#db.pragma('journal_mode = WAL');
      this.#db.exec(SCHEMA);
    } catch (error) {
      throw new HistoryOpenError(`${setting} ${path}: cannot open the history database (${(error as Error).message})`);
    }
    this.#limits = limits;
    const db = this.#db;
    this.#s = {
      insert: db.prepare(
        `INSERT OR IGNORE INTO history (device, frame_id, request_id, prompt, text, error, latency_ms, worker_ms, bytes, codec, at)
         VALUES (@device, @frameId, @requestId, @prompt, @text, @error, @latencyMs, @workerMs, @bytes, @codec, @at)`,
      ),
      trimDevice: db.prepare('DELETE FROM history WHERE device = ? AND seq <= (SELECT seq FROM history WHERE device = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)'),
      trimOldest: db.prepare('DELETE FROM history WHERE seq IN (SELECT seq FROM history ORDER BY seq LIMIT ?)'),
      recent: db.prepare('SELECT * FROM (SELECT * FROM history WHERE device = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq ASC'),
      count: db.prepare('SELECT count(*) AS n FROM history'),
      countDevice: db.prepare('SELECT count(*) AS n FROM history WHERE device = ?'),
    };
    this.#rows = (this.#s.count.get() as { n: number }).n;
  }

  /** Rows in the file: read once at open, then kept with every insert and trim (the total bound needs no scan). */
  #rows: number;

  /** Adds the row unless its (device, frame id) is already there; keeps both bounds. Returns whether it was added. */
  add(row: HistoryRow): boolean {
    const record = { ...row, prompt: cut(row.prompt), text: cut(row.text), error: cut(row.error) };
    return this.#db.transaction(() => {
      const added = this.#s.insert.run(record).changes === 1;
      if (added) {
        this.#rows += 1 - this.#s.trimDevice.run(row.device, row.device, this.#limits.perDevice).changes;
        if (this.#rows > this.#limits.total) this.#rows -= this.#s.trimOldest.run(this.#rows - this.#limits.total).changes;
      }
      return added;
    })();
  }

  /** The device's newest `limit` rows, oldest first (for plots and the table). */
  recent(device: string, limit: number): HistoryRow[] {
    return (this.#s.recent.all(device, Math.max(1, Math.min(limit, this.#limits.perDevice))) as DbRow[]).map(fromDb);
  }

  count(device?: string): number {
    const row = (device === undefined ? this.#s.count.get() : this.#s.countDevice.get(device)) as { n: number };
    return row.n;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
