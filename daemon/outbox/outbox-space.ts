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
