// The dedup store on real SQLite files: answers keyed by (device, frame id),
// bounds per device and in devices (one sender's entries never push out
// another device's), and a file of the previous layout (keyed by frame id
// alone) opened, migrated and its planted refusals left out.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { DedupStore } from '../../cloud/worker/dedup-store.ts';

const work = mkdtempSync(join(tmpdir(), 'splitoculo-dedup-'));
after(() => rmSync(work, { recursive: true, force: true }));
let files = 0;
const fresh = () => join(work, `dedup-${files++}.db`);
const limits = { maxEntries: 5, maxDevices: 3, ttlMs: 3_600_000 };

describe('dedup store keyed by device', () => {
  it("never hands one device the answer stored for another device's frame id", () => {
    const store = new DedupStore(fresh(), limits);
    store.put('cam-a', 'f1', '{"device":"cam-a"}');
    assert.equal(store.get('cam-a', 'f1'), '{"device":"cam-a"}');
    assert.equal(store.get('cam-b', 'f1'), undefined);
    store.put('cam-b', 'f1', '{"device":"cam-b"}');
    assert.equal(store.get('cam-a', 'f1'), '{"device":"cam-a"}', 'the same id of another device is a separate entry');
    assert.equal(store.size, 2);
    store.close();
  });

  it('bounds each device on its own: a flood of one device evicts only its own oldest', () => {
    const store = new DedupStore(fresh(), limits);
    const t = Date.now();
    for (let i = 0; i < 4; i++) store.put('victim', `v${i}`, `{"v":${i}}`, t + i);
    for (let i = 0; i < 600; i++) store.put('flooder', `x${i}`, `{"x":${i}}`, t + 10 + i);
    assert.equal(store.sizeOf('victim'), 4);
    assert.equal(store.sizeOf('flooder'), limits.maxEntries, 'exactly maxEntries kept, checked at every put');
    for (let i = 0; i < 4; i++) assert.equal(store.get('victim', `v${i}`), `{"v":${i}}`);
    assert.equal(store.get('flooder', 'x0'), undefined);
    assert.equal(store.get('flooder', 'x599'), '{"x":599}');
    store.close();
  });

  it('keeps at most maxDevices devices, dropping the least recently answered whole', () => {
    const path = fresh();
    const store = new DedupStore(path, limits);
    const t = Date.now();
    store.put('old', 'o', '{}', t);
    store.put('busy', 'b0', '{}', t + 1);
    store.put('mid', 'm', '{}', t + 2);
    store.put('busy', 'b1', '{}', t + 3); // busy answered most recently but one
    store.put('new', 'n', '{}', t + 4); // a fourth device: the least recently answered (old) goes
    assert.deepEqual(
      ['old', 'busy', 'mid', 'new'].map((d) => store.sizeOf(d)),
      [0, 2, 1, 1],
    );
    assert.equal(store.get('old', 'o'), undefined);
    store.close();
    // Reopened with smaller limits, the file shrinks to them.
    const smaller = new DedupStore(path, { maxEntries: 1, maxDevices: 2, ttlMs: limits.ttlMs });
    assert.deepEqual(
      ['busy', 'mid', 'new'].map((d) => smaller.sizeOf(d)),
      [1, 0, 1],
    );
    assert.equal(smaller.get('busy', 'b1'), '{}', "the device's newest is the one kept");
    smaller.close();
  });

  it('answers nothing older than the ttl, pruned or not', () => {
    const store = new DedupStore(fresh(), limits);
    const t = Date.now();
    store.put('cam', 'f', '{}', t - limits.ttlMs - 1);
    assert.equal(store.get('cam', 'f', t), undefined);
    store.close();
  });

  it('migrates a dedup file of the previous layout: answers under their device, planted refusals left out', () => {
    const path = fresh();
    const old = new Database(path);
    old.exec('CREATE TABLE answered (frame_id TEXT PRIMARY KEY, answered_at INTEGER NOT NULL, payload TEXT NOT NULL) WITHOUT ROWID');
    old.exec('CREATE INDEX answered_at ON answered (answered_at)');
    old.exec('CREATE TABLE device_sequence (device TEXT PRIMARY KEY, newest INTEGER NOT NULL) WITHOUT ROWID');
    const now = Date.now();
    const insert = old.prepare('INSERT INTO answered VALUES (?, ?, ?)');
    insert.run('f-text', now, JSON.stringify({ device: 'cam-a', frameId: 'f-text', text: 'a cat' }));
    insert.run('f-slow', now, JSON.stringify({ device: 'cam-a', frameId: 'f-slow', error: { code: 'deadline-exceeded', message: 'late' } }));
    // What the attack of issue 15 left: a forger's device-mismatch error stored under the victim's frame id.
    insert.run('f-victim', now, JSON.stringify({ device: 'evil', frameId: 'f-victim', error: { code: 'device-mismatch', message: 'x' } }));
    insert.run('f-junk', now, 'not json');
    old.prepare('INSERT INTO device_sequence VALUES (?, ?)').run('cam-a', 77);
    old.close();

    const store = new DedupStore(path, limits);
    assert.deepEqual(store.migration, { kept: 2, dropped: 2 });
    assert.match(store.get('cam-a', 'f-text')!, /a cat/);
    assert.match(store.get('cam-a', 'f-slow')!, /deadline-exceeded/);
    assert.equal(store.get('evil', 'f-victim'), undefined);
    assert.equal(store.get('cam-victim', 'f-victim'), undefined);
    assert.equal(store.newestSequence('cam-a'), 77, 'replay state survives the migration');
    store.put('cam-a', 'f-new', '{}');
    assert.equal(store.sizeOf('cam-a'), 3, 'the per-device count includes migrated rows');
    store.close();
    const again = new DedupStore(path, limits);
    assert.equal(again.migration, null, 'migrated once');
    assert.equal(again.size, 3);
    again.close();
  });

  it('recreates the store when the old rows cannot be migrated (a cache: nothing fatal)', () => {
    const path = fresh();
    const old = new Database(path);
    old.exec('CREATE TABLE answered (something TEXT)'); // not the layout it claims
    old.prepare('INSERT INTO answered VALUES (?)').run('x');
    old.close();
    const store = new DedupStore(path, limits);
    assert.equal(store.migration?.kept, 0);
    assert.equal(store.migration?.dropped, 1);
    assert.match(store.migration?.failure ?? '', /no such column/);
    store.put('cam', 'f', '{}');
    assert.equal(store.get('cam', 'f'), '{}');
    store.close();
  });
});
