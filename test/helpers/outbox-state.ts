// What a daemon has stored, read from its outbox file while it runs (SQLite
// WAL lets a reader in beside the writer): tests wait on stored state, not
// on the wording of log lines.
import Database from 'better-sqlite3';

function read<T>(path: string, query: (db: Database.Database) => T, empty: T): T {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch {
    return empty; // not created yet
  }
  try {
    return query(db);
  } catch {
    return empty; // schema not written yet
  } finally {
    db.close();
  }
}

/** Answers stored in the outbox at `path` (0 before the daemon created it). */
export function storedAnswers(path: string): number {
  return read(path, (db) => (db.prepare('SELECT count(*) AS n FROM answers').get() as { n: number }).n, 0);
}

/** The answers stored in the outbox at `path`, parsed, oldest first. */
export function storedAnswerList(path: string): Array<Record<string, unknown>> {
  return read(path, (db) => (db.prepare('SELECT payload FROM answers ORDER BY received_at, rowid').all() as { payload: string }[]).map((row) => JSON.parse(row.payload)), []);
}

/** Frames queued in the outbox at `path`. */
export function queuedFrames(path: string): number {
  return read(path, (db) => (db.prepare('SELECT count(*) AS n FROM frames WHERE acked_at IS NULL').get() as { n: number }).n, 0); // acknowledged rows await their answers
}

/** Frames acknowledged by the broker and kept awaiting their answers in the outbox at `path`. */
export function awaitingFrames(path: string): number {
  return read(path, (db) => (db.prepare('SELECT count(*) AS n FROM frames WHERE acked_at IS NOT NULL').get() as { n: number }).n, 0);
}
