import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { OutboxOpenError, SqliteOutbox } from '../../daemon/outbox/sqlite-outbox.ts';
import { StatePathError } from '../../runtime/state-paths.ts';
import { DEFAULT_TEST_LIMITS, outboxConformance } from './outbox-conformance.ts';

const dir = mkdtempSync(join(tmpdir(), 'splitoculo-outbox-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

outboxConformance(
  'SQLite file, synchronous=FULL',
  (limits, order) => new SqliteOutbox({ path: join(dir, `full-${n++}.db`), limits: { ...DEFAULT_TEST_LIMITS, ...limits }, ...(order && { order }), synchronous: 'full' }),
);
outboxConformance(
  'SQLite file, synchronous=NORMAL',
  (limits, order) => new SqliteOutbox({ path: join(dir, `normal-${n++}.db`), limits: { ...DEFAULT_TEST_LIMITS, ...limits }, ...(order && { order }), synchronous: 'normal' }),
);
outboxConformance('SQLite in memory', (limits, order) => new SqliteOutbox({ path: ':memory:', limits: { ...DEFAULT_TEST_LIMITS, ...limits }, ...(order && { order }) }));

describe('SQLite outbox across restarts', () => {
  it('keeps frames, counters and the identity sequence after reopening', () => {
    const path = join(dir, 'reopen.db');
    const first = new SqliteOutbox({ path, limits: { ...DEFAULT_TEST_LIMITS, maxRows: 2 } });
    const ids = [first.nextIdentity(), first.nextIdentity(), first.nextIdentity()];
    for (const id of ids) first.enqueue({ ...id, capturedAt: 1, bytes: new Uint8Array(5) });
    first.close();
    const second = new SqliteOutbox({ path, limits: { ...DEFAULT_TEST_LIMITS, maxRows: 2 } });
    assert.deepEqual(
      second.peek(5).map((f) => f.sequence),
      [ids[1]!.sequence, ids[2]!.sequence],
    );
    assert.equal(second.stats().evicted['drop-oldest'], 1);
    const next = second.nextIdentity();
    assert.equal(next.sequence, ids[2]!.sequence + 1);
    assert.ok(next.frameId > ids[2]!.frameId);
    second.close();
  });

  it('continues the identity sequence after every frame was acknowledged or rejected', () => {
    const path = join(dir, 'identity.db');
    const first = new SqliteOutbox({ path, limits: { ...DEFAULT_TEST_LIMITS, maxRows: 1, policy: 'drop-newest' } });
    const a = first.nextIdentity();
    first.enqueue({ ...a, capturedAt: 1, bytes: new Uint8Array(5) });
    first.ack([a.sequence]);
    const b = first.nextIdentity();
    first.enqueue({ ...b, capturedAt: 1, bytes: new Uint8Array(5) });
    const c = first.nextIdentity();
    assert.equal(first.enqueue({ ...c, capturedAt: 1, bytes: new Uint8Array(5) }).accepted, false);
    first.close();
    const second = new SqliteOutbox({ path, limits: { ...DEFAULT_TEST_LIMITS, maxRows: 1 } });
    const d = second.nextIdentity();
    assert.equal(d.sequence, c.sequence + 1);
    assert.ok(d.frameId > c.frameId);
    second.ack([b.sequence]);
    second.close();
    const third = new SqliteOutbox({ path, limits: DEFAULT_TEST_LIMITS });
    assert.equal(third.nextIdentity().sequence, d.sequence + 1, 'even an issued-but-unstored identity is not reused once a later write saved it');
    third.close();
  });

  it('keeps the database file within its bound under sustained overflow', () => {
    const path = join(dir, 'bounded.db');
    const maxBytes = 2_000_000;
    const outbox = new SqliteOutbox({ path, limits: { ...DEFAULT_TEST_LIMITS, maxRows: 100_000, maxBytes }, synchronous: 'normal' });
    for (let i = 0; i < 3000; i++) {
      const id = outbox.nextIdentity();
      outbox.enqueue({ ...id, capturedAt: Date.now(), bytes: new Uint8Array(3231).fill(i & 0xff) });
    }
    assert.ok(outbox.stats().bytes <= maxBytes);
    outbox.close();
    const size = statSync(path).size;
    assert.ok(size <= maxBytes * 1.5 + 8 * 1024 * 1024, `file is ${size} bytes`);
  });
});

describe('SQLite outbox file and folder', () => {
  it('creates a missing folder with mode 0750 and opens the outbox there', () => {
    const path = join(dir, 'state', 'deeper', 'outbox.db');
    const outbox = new SqliteOutbox({ path, limits: DEFAULT_TEST_LIMITS });
    outbox.close();
    assert.equal(statSync(join(dir, 'state', 'deeper')).mode & 0o777, 0o750);
    assert.ok(statSync(path).isFile());
  });

  it('names outbox.path and the reason when the folder cannot be made, the path is a folder, or the file is no database', () => {
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    assert.throws(
      () => new SqliteOutbox({ path: join(file, 'outbox.db'), limits: DEFAULT_TEST_LIMITS }),
      (e: unknown) => e instanceof StatePathError && e.message.startsWith(`outbox.path ${join(file, 'outbox.db')}: `) && /ENOTDIR|not a folder/.test(e.message),
    );
    const folder = join(dir, 'a-folder.db');
    mkdirSync(folder);
    assert.throws(
      () => new SqliteOutbox({ path: folder, limits: DEFAULT_TEST_LIMITS }),
      (e: unknown) => e instanceof StatePathError && e.message === `outbox.path ${folder}: is a folder or device, expected a file`,
    );
    const junk = join(dir, 'junk.db');
    writeFileSync(junk, 'not a database, only text that is long enough to be read as a header by sqlite '.repeat(20));
    assert.throws(
      () => new SqliteOutbox({ path: junk, limits: DEFAULT_TEST_LIMITS }),
      (e: unknown) => e instanceof OutboxOpenError && e.message.startsWith(`outbox.path ${junk}: `),
    );
  });
});
