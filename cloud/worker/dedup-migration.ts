/**
 * The previous dedup layout kept answers by frame id alone (`answered`): a
 * device reusing another's frame id got that device's answer, and an error
 * for a forged frame was stored under its victim's id. Opening such a file
 * moves each answer under the device it was published to (the envelope's
 * `device`), leaves out the intake refusals the new worker never stores
 * (they were what a forger could plant), and drops the old table. The store
 * is a cache: when the old rows cannot be read, they are dropped, not fatal.
 */
import type Database from 'better-sqlite3';

export interface DedupMigration {
  /** Answers moved to the (device, frame id) table. */
  kept: number;
  /** Old rows left out: intake refusals, unreadable payloads. */
  dropped: number;
  /** Set when the old rows could not be migrated and were discarded whole. */
  failure?: string;
}

/** Refusals decided at intake, before the sender is known to be the device: never stored by this version. */
export const UNSTORED_ERROR_CODES = ['bad-frame', 'device-mismatch', 'unknown-model', 'unauthenticated', 'replayed'] as const;

export function migrateDedup(db: Database.Database): DedupMigration | null {
  const old = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'answered'").get();
  if (!old) return null;
  const total = (db.prepare('SELECT count(*) AS n FROM answered').get() as { n: number }).n;
  const codes = UNSTORED_ERROR_CODES.map((code) => `'${code}'`).join(', ');
  try {
    return db.transaction(() => {
      const moved = db
        .prepare(
          `INSERT OR IGNORE INTO answers (device, frame_id, answered_at, payload)
         SELECT json_extract(payload, '$.device'), frame_id, answered_at, payload FROM answered
         WHERE json_valid(payload) AND typeof(json_extract(payload, '$.device')) = 'text'
           AND coalesce(json_extract(payload, '$.error.code'), '') NOT IN (${codes})`,
        )
        .run().changes;
      db.exec('DROP TABLE answered');
      return { kept: moved, dropped: total - moved };
    })();
  } catch (error) {
    db.exec('DROP TABLE IF EXISTS answered');
    return { kept: 0, dropped: total, failure: (error as Error).message };
  }
}
