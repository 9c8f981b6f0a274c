// The deferred commit's timer (outbox-deferred.ts) meeting an I/O error: the
// outbox process may write no byte past the WAL's current size (its own soft
// RLIMIT_FSIZE lowered with prlimit: the next WAL append fails with EFBIG,
// SQLite reports SQLITE_IOERR_WRITE and rolls the transaction back). Before,
// the exception left the timer callback (a daemon would have died) and the
// acks in the rolled-back transaction were gone while the counters said
// otherwise. Now: counted, the counters reloaded, the acks applied again and
// committed on a later tick once writes succeed. A real file, a real limit.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import Database from 'better-sqlite3';
import { REPO_ROOT } from '../../tools/repo-paths.ts';
import { DEFAULT_TEST_LIMITS } from './outbox-conformance.ts';

const dir = mkdtempSync(join(tmpdir(), 'splitoculo-outbox-io-'));
after(() => rmSync(dir, { recursive: true, force: true }));

it('a deferred commit that fails with an I/O error is counted, not thrown; its acks are written once the disk takes them', { timeout: 60_000 }, () => {
  const path = join(dir, 'io.db');
  const script = `
    import { spawnSync } from 'node:child_process';
    import { statSync } from 'node:fs';
    import { SqliteOutbox } from ${JSON.stringify(join(REPO_ROOT, 'daemon/outbox/sqlite-outbox.ts'))};
    const errors = [];
    const outbox = new SqliteOutbox({ path: ${JSON.stringify(path)}, limits: ${JSON.stringify(DEFAULT_TEST_LIMITS)}, onDeferredError: (e) => errors.push(e.code) });
    const seqs = [];
    for (let i = 0; i < 3; i++) { const id = outbox.nextIdentity(); outbox.enqueue({ ...id, capturedAt: i + 1, bytes: new Uint8Array(3000) }); seqs.push(id.sequence); }
    outbox.ack(seqs);
    const limit = (soft) => { const r = spawnSync('prlimit', ['--pid', String(process.pid), '--fsize=' + soft + ':']); if (r.status !== 0) throw new Error(String(r.stderr)); };
    limit(statSync(${JSON.stringify(path)} + '-wal').size);
    const until = (condition, then) => { const t = setInterval(() => { if (condition()) { clearInterval(t); then(); } }, 20); };
    until(() => errors.length >= 2, () => {
      const during = outbox.stats().rows;
      limit('unlimited');
      // Committed: the reloaded counters (3 queued again) back to 0 only by a commit that went through.
      until(() => outbox.stats().rows === 0, () => {
        outbox.close();
        process.stdout.write(JSON.stringify({ errors, during }));
      });
    });`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 50_000 });
  const result = JSON.parse(out) as { errors: string[]; during: number };
  assert.ok(result.errors.length >= 2, `the timer retried: ${result.errors.join(', ')}`);
  assert.equal(result.during, 3, "after the rollback the counters are the file's: the three frames queued again");
  assert.ok(
    result.errors.every((code) => code.startsWith('SQLITE_IOERR')),
    result.errors.join(', '),
  );
  const db = new Database(path, { readonly: true });
  const rows = db.prepare('SELECT count(*) AS n, sum(acked_at IS NULL) AS queued FROM frames').get() as { n: number; queued: number };
  db.close();
  assert.deepEqual(rows, { n: 3, queued: 0 }, 'all three acknowledged in the file (awaiting their answers), none queued again');
});
