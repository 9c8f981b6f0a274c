/**
 * Answers already given, by (device, frame id), in a small SQLite file. QoS 1
 * delivers a frame at least once; a redelivered frame gets its stored answer
 * again instead of a second inference. Keyed by device because frame ids are
 * chosen by the sender: a device reusing another's id must never be handed
 * that device's answer. Bounded per device (maxEntries, its oldest go first)
 * and in devices (maxDevices, the least recently answered goes whole), so one
 * sender's traffic can only push out its own entries; and by age (ttlMs).
 * The replay high-water mark per device lives here too (device_sequence).
 */
import Database from 'better-sqlite3';
import { UserError } from '../../protocol/errors.ts';
import { ensureStateFile } from '../../runtime/state-paths.ts';
import { migrateDedup, type DedupMigration } from './dedup-migration.ts';

export interface DedupLimits {
  /** Answers kept per device. */
  maxEntries: number;
  /** Devices kept; beyond it the least recently answered device's answers go. */
  maxDevices: number;
  ttlMs: number;
}

const PRUNE_EVERY = 256;

/** The dedup file exists but SQLite cannot open it (not a database, unreadable). */
export class DedupOpenError extends UserError {
  override readonly name = 'DedupOpenError';
}

// answer_devices.entries mirrors count(*) per device through the triggers, so bounds are checked without scanning.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS answers (device TEXT NOT NULL, frame_id TEXT NOT NULL, answered_at INTEGER NOT NULL, payload TEXT NOT NULL,
  PRIMARY KEY (device, frame_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS answers_device_age ON answers (device, answered_at);
CREATE INDEX IF NOT EXISTS answers_age ON answers (answered_at);
CREATE TABLE IF NOT EXISTS answer_devices (device TEXT PRIMARY KEY, last_used INTEGER NOT NULL, entries INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS answer_devices_lru ON answer_devices (last_used);
CREATE TRIGGER IF NOT EXISTS answers_added AFTER INSERT ON answers BEGIN
  INSERT INTO answer_devices (device, last_used, entries) VALUES (new.device, new.answered_at, 1)
    ON CONFLICT (device) DO UPDATE SET entries = entries + 1, last_used = max(last_used, excluded.last_used);
END;
CREATE TRIGGER IF NOT EXISTS answers_removed AFTER DELETE ON answers BEGIN
  UPDATE answer_devices SET entries = entries - 1 WHERE device = old.device;
END;
CREATE TABLE IF NOT EXISTS device_sequence (device TEXT PRIMARY KEY, newest INTEGER NOT NULL) WITHOUT ROWID;
`;

export class DedupStore {
  readonly #db: Database.Database;
  readonly #limits: DedupLimits;
  readonly #s;
  /** What opening did to a dedup file of the previous layout (keyed by frame id alone); null when there was none. */
  readonly migration: DedupMigration | null;
  #devices = 0;
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
    this.#db.exec(SCHEMA);
    this.migration = migrateDedup(this.#db);
    this.#limits = limits;
    const db = this.#db;
    this.#s = {
      get: db.prepare<[string, string, number], { payload: string }>('SELECT payload FROM answers WHERE device = ? AND frame_id = ? AND answered_at >= ?'),
      entries: db.prepare<[string], { entries: number }>('SELECT entries FROM answer_devices WHERE device = ?'),
      put: db.prepare<[string, string, number, string]>(
        'INSERT INTO answers (device, frame_id, answered_at, payload) VALUES (?, ?, ?, ?) ON CONFLICT (device, frame_id) DO UPDATE SET answered_at = excluded.answered_at, payload = excluded.payload',
      ),
      touch: db.prepare<[number, string]>('UPDATE answer_devices SET last_used = max(last_used, ?) WHERE device = ?'),
      dropOldestOf: db.prepare<[string, string, number]>('DELETE FROM answers WHERE device = ? AND frame_id IN (SELECT frame_id FROM answers WHERE device = ? ORDER BY answered_at, frame_id LIMIT ?)'),
      leastRecent: db.prepare<[string, number], { device: string }>('SELECT device FROM answer_devices WHERE device != ? ORDER BY last_used, device LIMIT ?'),
      dropDevice: db.prepare<[string]>('DELETE FROM answers WHERE device = ?'),
      forgetDevice: db.prepare<[string]>('DELETE FROM answer_devices WHERE device = ?'),
      pruneOld: db.prepare<[number]>('DELETE FROM answers WHERE answered_at < ?'),
      pruneEmpty: db.prepare('DELETE FROM answer_devices WHERE entries <= 0'),
      devices: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM answer_devices'),
      newest: db.prepare<[string], { newest: number }>('SELECT newest FROM device_sequence WHERE device = ?'),
      noteNewest: db.prepare<[string, number]>('INSERT INTO device_sequence (device, newest) VALUES (?, ?) ON CONFLICT (device) DO UPDATE SET newest = max(newest, excluded.newest)'),
    };
    this.prune();
  }

  /** The highest sequence number seen in a signed frame of the device (replay detection). */
  newestSequence(deviceId: string): number | undefined {
    return this.#s.newest.get(deviceId)?.newest;
  }

  noteSequence(deviceId: string, sequence: number): void {
    this.#s.noteNewest.run(deviceId, sequence);
  }

  /** The stored answer JSON for the device's frame id, if it is still in the window. */
  get(deviceId: string, frameId: string, now = Date.now()): string | undefined {
    return this.#s.get.get(deviceId, frameId, now - this.#limits.ttlMs)?.payload;
  }

  /** Stores an answer; the device's oldest beyond maxEntries go, then whole devices beyond maxDevices (least recently answered first). */
  put(deviceId: string, frameId: string, payload: string, now = Date.now()): void {
    this.#db.transaction(() => {
      const isNew = this.#s.entries.get(deviceId) === undefined;
      this.#s.put.run(deviceId, frameId, now, payload);
      this.#s.touch.run(now, deviceId);
      const entries = this.#s.entries.get(deviceId)?.entries ?? 0;
      if (entries > this.#limits.maxEntries) this.#s.dropOldestOf.run(deviceId, deviceId, entries - this.#limits.maxEntries);
      if (isNew) this.#devices += 1;
      if (this.#devices > this.#limits.maxDevices) this.#dropLeastRecent(deviceId, this.#devices - this.#limits.maxDevices);
    })();
    if (++this.#writes % PRUNE_EVERY === 0) this.prune(now);
  }

  #dropLeastRecent(keep: string, count: number): void {
    for (const { device } of this.#s.leastRecent.all(keep, count)) {
      this.#s.dropDevice.run(device);
      this.#s.forgetDevice.run(device);
      this.#devices -= 1;
    }
  }

  /** Forgets answers past their age, and enforces the bounds (a file written under larger limits shrinks at open). */
  prune(now = Date.now()): void {
    this.#db.transaction(() => {
      this.#s.pruneOld.run(now - this.#limits.ttlMs);
      const over = this.#db.prepare('SELECT device, entries FROM answer_devices WHERE entries > ?').all(this.#limits.maxEntries) as { device: string; entries: number }[];
      for (const { device, entries } of over) this.#s.dropOldestOf.run(device, device, entries - this.#limits.maxEntries);
      this.#s.pruneEmpty.run();
      this.#devices = this.#s.devices.get()!.n;
      if (this.#devices > this.#limits.maxDevices) this.#dropLeastRecent('', this.#devices - this.#limits.maxDevices);
    })();
  }

  /** Stored answers, all devices together. */
  get size(): number {
    return (this.#db.prepare('SELECT count(*) AS n FROM answers').get() as { n: number }).n;
  }

  /** Stored answers of one device. */
  sizeOf(deviceId: string): number {
    return this.#s.entries.get(deviceId)?.entries ?? 0;
  }

  close(): void {
    this.#db.close();
  }
}
