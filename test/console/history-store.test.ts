// The console's history file: bounded per device and in total, one row per (device, frame id), long texts cut.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, it } from 'node:test';
import { isUserError } from '../../protocol/errors.ts';
import { HISTORY_TEXT_MAX, type HistoryRow, HistoryStore } from '../../cloud/console/history-store.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function store(perDevice: number, total: number): { store: HistoryStore; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'console-history-'));
  dirs.push(dir);
  const path = join(dir, 'nested', 'history.db');
  return { store: new HistoryStore(path, { perDevice, total }), path };
}

let n = 0;
const row = (device: string, extra: Partial<HistoryRow> = {}): HistoryRow => ({
  device,
  frameId: `0190a0b0-0000-7000-8000-${String(++n).padStart(12, '0')}`,
  requestId: null,
  prompt: 'What is here?',
  text: `answer ${n}`,
  error: null,
  latencyMs: 100 + n,
  workerMs: 50,
  bytes: 3247,
  codec: 'neural-u8',
  at: 1_700_000_000_000 + n,
  ...extra,
});

it('keeps the newest rows per device and in total, oldest first', () => {
  const { store: s } = store(3, 5);
  for (let i = 0; i < 6; i++) s.add(row('cam1'));
  assert.equal(s.count('cam1'), 3, 'per-device bound');
  const kept = s.recent('cam1', 10);
  assert.deepEqual(
    kept.map((r) => r.text),
    [n - 2, n - 1, n].map((i) => `answer ${i}`),
  );
  assert.ok(kept[0]!.at < kept[2]!.at, 'oldest first');
  for (let i = 0; i < 3; i++) s.add(row('cam2'));
  assert.equal(s.count(), 5, 'total bound: the oldest rows of all went');
  assert.equal(s.count('cam2'), 3);
  assert.equal(s.count('cam1'), 2);
  s.close();
});

it('one row per (device, frame id): a redelivered answer is not a second row; another device may reuse the id', () => {
  const { store: s } = store(10, 100);
  const first = row('cam1');
  assert.equal(s.add(first), true);
  assert.equal(s.add({ ...first, text: 'again' }), false);
  assert.equal(s.add({ ...first, device: 'cam2' }), true);
  assert.equal(s.add(row('cam1', { frameId: null, text: null, error: 'bad-frame: x' })), true, 'unreadable frames have no id and are all kept');
  assert.equal(s.add(row('cam1', { frameId: null, text: null, error: 'bad-frame: y' })), true);
  assert.equal(s.count('cam1'), 3);
  assert.equal(s.recent('cam1', 10)[0]!.text, first.text);
  s.close();
});

it('cuts long texts, keeps the rest, and survives reopening', () => {
  const { store: s, path } = store(10, 100);
  s.add(row('cam1', { text: 'x'.repeat(HISTORY_TEXT_MAX + 500), prompt: 'p'.repeat(HISTORY_TEXT_MAX + 1), requestId: 'req-1' }));
  s.close();
  const again = new HistoryStore(path, { perDevice: 10, total: 100 });
  const [kept] = again.recent('cam1', 1);
  assert.equal(kept!.text!.length, HISTORY_TEXT_MAX);
  assert.equal(kept!.prompt!.length, HISTORY_TEXT_MAX);
  assert.equal(kept!.requestId, 'req-1');
  assert.equal(kept!.bytes, 3247);
  assert.equal(kept!.codec, 'neural-u8');
  again.close();
});

it('an unusable history path is one line naming console.historyPath', () => {
  const dir = mkdtempSync(join(tmpdir(), 'console-history-'));
  dirs.push(dir);
  const file = join(dir, 'a-file');
  writeFileSync(file, 'not a folder');
  const path = join(file, 'history.db');
  assert.throws(
    () => new HistoryStore(path, { perDevice: 1, total: 1 }),
    (error: Error) => isUserError(error) && error.message.startsWith(`console.historyPath ${path}: `),
  );
});
