/**
 * Disk space for the outbox. SQLite's WAL needs room for every write,
 * deletions included, so a disk filled to the last byte could no longer even
 * evict: the outbox keeps `minFreeBytes` free and folds the WAL back into the
 * database when space runs out.
 */
import { statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { PAGE_SIZE } from './outbox-database.ts';
import { dropOldest, type EvictionState } from './outbox-eviction.ts';

/** Folds the WAL into the database and truncates it; a full disk may refuse, which is fine. */
export function checkpoint(db: Database.Database): void {
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } catch (error) {
    if ((error as { code?: string }).code !== 'SQLITE_FULL') throw error;
  }
}

/**
 * True when writing `bytes` more to the database at `path` would leave less
 * than `minFreeBytes` free. Pages freed inside the database file count as
 * free: the next insert reuses them.
 */
export function diskLow(db: Database.Database, path: string, minFreeBytes: number, bytes: number): boolean {
  if (path === ':memory:' || minFreeBytes <= 0) return false;
  const fs = statfsSync(dirname(resolve(path)));
  const reusable = (db.pragma('freelist_count', { simple: true }) as number) * PAGE_SIZE;
  return fs.bavail * fs.bsize + reusable - 2 * bytes < minFreeBytes;
}

/**
 * Deletes the oldest queued frame in a transaction of its own (none may be
 * open); false if none is left or the storage refuses even that. On a full
 * disk the WAL is what fills it: fold it into the database first (freed pages
 * there are reused by the next insert). `reload` after a rollback.
 */
export function evictForSpace(db: Database.Database, state: EvictionState, counted: () => void, reload: () => void): boolean {
  checkpoint(db);
  try {
    const dropped = db.transaction(() => {
      if (!dropOldest(state)) return false;
      counted();
      return true;
    })();
    checkpoint(db);
    return dropped;
  } catch (error) {
    reload();
    if ((error as { code?: string }).code === 'SQLITE_FULL') return false;
    throw error;
  }
}
