// Write amplification of the outbox (issue 17, item 4): acknowledgements and
// attempt counts ride on the next enqueue's commit, so a frame costs one page
// of WAL, not four; answers are trimmed in batches, not one per answer; what a
// crash may cost (an acknowledged frame sent again) and what it may not (an
// enqueued frame, a reused sequence).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteOutbox } from '../../daemon/outbox/sqlite-outbox.ts';
import { DEFERRED_COMMIT_MS } from '../../daemon/outbox/outbox-deferred.ts';
import { TRIM_BATCH, trimSlack } from '../../daemon/outbox/outbox-answers.ts';
import { REPO_ROOT } from '../../tools/repo-paths.ts';
import { DEFAULT_TEST_LIMITS } from './outbox-conformance.ts';
import { waitFor } from '../helpers/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'splitoculo-outbox-writes-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const committedRows = (path: string) => {
  const other = new Database(path, { readonly: true });
  try {
    // Queued rows: an acknowledged one stays, awaiting its answer (outbox-awaiting.ts).
    return (other.prepare('SELECT count(*) AS n FROM frames WHERE acked_at IS NULL').get() as { n: number }).n;
  } finally {
    other.close();
  }
};

describe('outbox disk writes', () => {
  it('writes at most 2.5x the frame per queued frame in the daemon steady state (enqueue, attempt, ack)', () => {
    // A child of its own, so /proc/self/io counts SQLite's writes and nothing else.
    const out = execFileSync(process.execPath, [join(REPO_ROOT, 'bench/footprint/disk-writes.ts'), '--frames', '400', '--dir', join(dir, 'bench-')], { encoding: 'utf8' });
    const result = JSON.parse(out) as { syscallBytesPerFrame: number; frameBytes: number; syscallRatio: number };
    assert.ok(result.syscallRatio <= 2.5, `wrote ${result.syscallBytesPerFrame} bytes per ${result.frameBytes}-byte frame (${result.syscallRatio.toFixed(2)}x)`);
  });

  it('an answered frame with the answer store at its bound writes at most 11x the frame (trims come in batches)', () => {
    // One answer trimmed per answer rewrote the oldest leaf of the table and both its indexes on every commit: 14.2x here.
    const args = ['--frames', '400', '--answer-bytes', '600', '--max-answers', '300', '--dir', join(dir, 'bench-')];
    const result = JSON.parse(execFileSync(process.execPath, [join(REPO_ROOT, 'bench/footprint/disk-writes.ts'), ...args], { encoding: 'utf8' })) as {
      syscallBytesPerFrame: number;
      syscallRatio: number;
    };
    assert.ok(result.syscallRatio <= 11, `wrote ${result.syscallBytesPerFrame} bytes per answered frame (${result.syscallRatio.toFixed(2)}x)`);
  });

  it('keeps at most maxAnswers answers, and once over, the newest maxAnswers less the slack', () => {
    assert.deepEqual([trimSlack(3), trimSlack(100), trimSlack(1_000_000)], [0, 6, TRIM_BATCH]);
    const outbox = new SqliteOutbox({ path: join(dir, 'answers.db'), limits: { ...DEFAULT_TEST_LIMITS, maxAnswers: 100 } });
    const counts: number[] = [];
    for (let i = 0; i < 250; i++) {
      outbox.storeAnswer(`f${i}`, '{}', i);
      counts.push(outbox.stats().answers);
    }
    assert.equal(Math.max(...counts), 100, 'never over the bound');
    assert.equal(Math.min(...counts.slice(100)), 94, 'down to the bound less the slack (6) at a trim');
    const kept = outbox.answers({ limit: 1000 }).map((a) => a.frameId);
    assert.equal(kept.length, counts.at(-1));
    assert.equal(kept.at(-1), 'f249', 'the newest kept');
    assert.equal(kept[0], `f${250 - kept.length}`, 'the oldest gone first');
    outbox.close();
  });

  it('commits a deferred acknowledgement on its own when no enqueue follows', async () => {
    const path = join(dir, 'idle.db');
    const outbox = new SqliteOutbox({ path, limits: DEFAULT_TEST_LIMITS });
    const id = outbox.nextIdentity();
    outbox.enqueue({ ...id, capturedAt: 1, bytes: new Uint8Array(100) });
    assert.equal(committedRows(path), 1);
    outbox.ack([id.sequence]);
    assert.equal(outbox.stats().rows, 0, 'the daemon sees the frame gone at once');
    await waitFor(() => committedRows(path) === 0, { what: 'the deferred delete committed', timeoutMs: DEFERRED_COMMIT_MS * 5 });
    outbox.close();
  });

  it('a crash before the deferred commit resends the acknowledged frame but never reuses its sequence', () => {
    const path = join(dir, 'crash.db');
    const script = `
      import { SqliteOutbox } from ${JSON.stringify(join(REPO_ROOT, 'daemon/outbox/sqlite-outbox.ts'))};
      const outbox = new SqliteOutbox({ path: ${JSON.stringify(path)}, limits: ${JSON.stringify(DEFAULT_TEST_LIMITS)} });
      const a = outbox.nextIdentity();
      outbox.enqueue({ ...a, capturedAt: 1, bytes: new Uint8Array(100) });
      outbox.ack([a.sequence]);
      const b = outbox.nextIdentity();
      outbox.enqueue({ ...b, capturedAt: 2, bytes: new Uint8Array(100) });
      outbox.markAttempt(b.sequence);
      outbox.ack([b.sequence]);
      process.kill(process.pid, 'SIGKILL');`;
    assert.throws(() => execFileSync(process.execPath, ['--input-type=module', '-e', script], { stdio: 'pipe' }));
    const reopened = new SqliteOutbox({ path, limits: DEFAULT_TEST_LIMITS });
    // a's delete committed with b's insert; b's delete died with the process: b is sent again.
    assert.deepEqual(
      reopened.peek(10).map((f) => f.sequence),
      [2],
    );
    assert.equal(reopened.nextIdentity().sequence, 3);
    reopened.close();
  });
});
