// Outbox writes that run from timers, with the file's write lock held by
// another connection (BEGIN EXCLUSIVE from a second better-sqlite3 handle on
// the same file, as an operator's sqlite3 shell or a backup tool would): the
// ack flush failed with SQLITE_BUSY inside a timer callback, an uncaught
// exception that ended the daemon. Now the failure is counted, logged once
// per burst, the acks stay pending (never dropped, never sent again
// meanwhile) and land after the lock is released.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { AckBatch } from '../../daemon/link/ack-batch.ts';
import { systemClock } from '../../daemon/link/clock.ts';
import { StoreErrors, type StoreWrite } from '../../daemon/link/store-errors.ts';
import { SqliteOutbox } from '../../daemon/outbox/sqlite-outbox.ts';
import { waitFor } from '../helpers/wait.ts';
import { DEFAULT_TEST_LIMITS } from './outbox-conformance.ts';

const dir = mkdtempSync(join(tmpdir(), 'splitoculo-outbox-busy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const awaitingRows = (path: string) => {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM frames WHERE acked_at IS NOT NULL').get() as { n: number }).n;
  } finally {
    db.close();
  }
};

describe('outbox writes from timers while another connection holds the write lock', () => {
  it('counts SQLITE_BUSY, keeps the acks pending, and writes them once the lock is released', { timeout: 60_000 }, async () => {
    const path = join(dir, 'busy.db');
    const outbox = new SqliteOutbox({ path, limits: DEFAULT_TEST_LIMITS });
    const sequences: number[] = [];
    for (let i = 0; i < 3; i++) {
      const id = outbox.nextIdentity();
      outbox.enqueue({ ...id, capturedAt: i + 1, bytes: new Uint8Array(100) });
      sequences.push(id.sequence);
    }
    const failures: StoreWrite[] = [];
    let warnings = 0;
    const errors = new StoreErrors(
      {
        warn: () => {
          warnings += 1;
        },
      },
      (write) => failures.push(write),
    );
    const acks = new AckBatch({ clock: systemClock, flush: (s) => outbox.ack(s), errors });

    const locker = new Database(path, { timeout: 0 });
    locker.exec('BEGIN EXCLUSIVE');
    for (const seq of sequences) acks.add(seq);
    // better-sqlite3 waits its busy timeout (5 s) inside BEGIN IMMEDIATE, then throws SQLITE_BUSY from the flush timer.
    await waitFor(() => failures.length >= 1, { what: 'a failed ack flush counted', timeoutMs: 30_000 });
    assert.ok(failures.every((w) => w === 'ack'));
    assert.deepEqual([...acks.pending].sort(), sequences, 'the acks are kept, not dropped');
    assert.equal(outbox.stats().rows, 3, 'still queued in the file');
    assert.equal(outbox.peek(10, new Set(acks.pending)).length, 0, 'the pending frames are not sent again meanwhile');
    // An attempt count from the timeout timer: counted and skipped, no throw.
    assert.equal(
      errors.guard('attempt', () => outbox.markAttempt(sequences[0]!)),
      false,
    );
    assert.equal(failures.at(-1), 'attempt');
    assert.equal(warnings, 2, 'one warning per kind for the whole burst');

    locker.exec('COMMIT');
    locker.close();
    await waitFor(() => acks.pending.length === 0, { what: 'the acks written after the lock was released', timeoutMs: 30_000 });
    assert.equal(outbox.stats().rows, 0);
    outbox.close();
    assert.equal(awaitingRows(path), 3, 'all three acknowledged in the file, awaiting their answers');
    assert.equal(warnings, 2, 'the success ended the burst quietly');
  });
});
