// Newest-first delivery with many acknowledged frames awaiting their answers:
// they sit at the newest end, and peekNewest walked every one of them on each
// peek. Asserted on the query plan (the partial index of queued rows), not on
// time; and the index exists only in newest-first files, so oldest-first
// keeps its disk writes per frame.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { prepareStatements } from '../../daemon/outbox/outbox-database.ts';
import { SqliteOutbox } from '../../daemon/outbox/sqlite-outbox.ts';
import { DEFAULT_TEST_LIMITS } from './outbox-conformance.ts';

const dir = mkdtempSync(join(tmpdir(), 'splitoculo-outbox-newest-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const AWAITING = 10_000;
const BACKLOG = 5;

function peekPlan(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    const sql = prepareStatements(db).peekNewest.source;
    return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(5) as Array<{ detail: string }>).map((row) => row.detail).join('; ');
  } finally {
    db.close();
  }
}

describe('newest-first peek past acknowledged rows', () => {
  const path = join(dir, 'newest.db');

  it(`with ${AWAITING.toLocaleString('en')} acknowledged rows above the backlog, peekNewest reads the queued rows through the partial index, no scan`, () => {
    const limits = { ...DEFAULT_TEST_LIMITS, maxRows: AWAITING + BACKLOG + 10, maxBytes: 64 * 1024 * 1024 };
    const outbox = new SqliteOutbox({ path, limits, order: 'newest-first', synchronous: 'off', awaiting: { windowMs: 3_600_000, max: AWAITING * 2 } });
    const sequences: number[] = [];
    for (let i = 0; i < AWAITING + BACKLOG; i++) {
      const id = outbox.nextIdentity();
      outbox.enqueue({ ...id, capturedAt: i + 1, bytes: new Uint8Array(16) });
      sequences.push(id.sequence);
    }
    // The newest were sent and acknowledged first: the backlog is the oldest BACKLOG frames.
    outbox.ack(sequences.slice(BACKLOG));
    assert.deepEqual(
      outbox.peek(3).map((f) => f.sequence),
      sequences.slice(0, BACKLOG).reverse().slice(0, 3),
    );
    assert.equal(outbox.stats().rows, BACKLOG);
    outbox.close();
    const plan = peekPlan(path);
    assert.match(plan, /USING INDEX frames_queued/, plan);
    assert.doesNotMatch(plan, /^SCAN frames$/, plan);
    const db = new Database(path, { readonly: true });
    const acked = (db.prepare('SELECT count(*) AS n FROM frames WHERE acked_at IS NOT NULL').get() as { n: number }).n;
    db.close();
    assert.equal(acked, AWAITING, 'the acknowledged rows are still there, awaiting answers');
  });

  it('the same file opened oldest-first drops the index (no index page written per commit there)', () => {
    const outbox = new SqliteOutbox({ path, limits: DEFAULT_TEST_LIMITS, synchronous: 'off' });
    outbox.close();
    const db = new Database(path, { readonly: true });
    const indexes = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'frames'").all() as Array<{ name: string }>;
    db.close();
    assert.deepEqual(
      indexes.map((i) => i.name),
      [],
    );
  });
});
