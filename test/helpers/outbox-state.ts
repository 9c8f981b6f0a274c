// What a daemon has stored, read from its outbox file while it runs (SQLite
// WAL lets a reader in beside the writer): tests wait on stored state, not
// on the wording of log lines.
import Database from 'better-sqlite3';

function count(path: string, table: 'answers' | 'frames'): number {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch {
    return 0; // not created yet
  }
  try {
    return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  } catch {
    return 0; // schema not written yet
  } finally {
    db.close();
  }
}

/** Answers stored in the outbox at `path` (0 before the daemon created it). */
export function storedAnswers(path: string): number {
  return count(path, 'answers');
}

/** Frames queued in the outbox at `path`. */
export function queuedFrames(path: string): number {
  return count(path, 'frames');
}
