// The outbox under process death and a full disk, with real SQLite files.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { REPO_ROOT } from '../helpers/paths.ts';

const WRITER = join(REPO_ROOT, 'test', 'fixtures', 'outbox-writer.ts');
const dir = mkdtempSync(join(tmpdir(), 'splitoculo-durability-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const exec = promisify(execFile);

/** Seeded so a failure can be replayed (mulberry32). */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function runUntilKilled(db: string, delayMs: number): Promise<string[]> {
  const child = spawn(process.execPath, [WRITER, 'churn', db], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (out.includes('READY')) {
        clearInterval(poll);
        setTimeout(() => child.kill('SIGKILL'), delayMs);
        resolve();
      }
    }, 5);
  });
  await new Promise((resolve) => child.once('close', resolve));
  return out.split('\n').filter(Boolean);
}

describe('outbox durability', () => {
  it('survives SIGKILL at random points of its writes: opens, passes integrity_check, keeps every frame whose enqueue returned (queued, or acknowledged and awaiting its answer)', async () => {
    const db = join(dir, 'killed.db');
    const next = random(20261126);
    const expected = new Set<number>();
    let kills = 0;
    let enqueued = 0;
    let queuedAtEnd = 0;
    for (let iteration = 0; iteration < 40; iteration++) {
      const lines = await runUntilKilled(db, Math.floor(next() * 150));
      kills++;
      for (const line of lines) {
        const [kind, seq] = line.split(' ');
        if (kind === 'Q') {
          expected.add(Number(seq));
          enqueued++;
        }
        // An acknowledged frame keeps its row, awaiting its answer (outbox-awaiting.ts): none may vanish,
        // whether the kill came before, during or after the deferred ack's commit.
      }
      const check = new Database(db);
      assert.equal(check.pragma('integrity_check', { simple: true }), 'ok', `after kill ${kills}`);
      const stored = new Set((check.prepare('SELECT seq FROM frames').all() as Array<{ seq: number }>).map((r) => r.seq));
      const queued = (check.prepare('SELECT count(*) AS n FROM frames WHERE acked_at IS NULL').get() as { n: number }).n;
      check.close();
      for (const seq of expected) assert.ok(stored.has(seq), `frame ${seq} was enqueued before kill ${kills} but is gone`);
      queuedAtEnd = queued;
    }
    assert.ok(queuedAtEnd < expected.size / 2, `acknowledged frames left the queue (${queuedAtEnd} of ${expected.size} queued)`);
    assert.ok(enqueued > 100, `only ${enqueued} enqueues happened`);
    console.log(`# ${kills} SIGKILLs, ${enqueued} enqueues acknowledged by the writer, every one found afterwards`);
  });

  for (const policy of ['drop-oldest', 'reject'] as const) {
    it(`on a full disk (1 MiB tmpfs), ${policy} ${policy === 'drop-oldest' ? 'evicts to make room' : 'refuses frames with OutboxFullError'} and the store stays intact`, async () => {
      const mount = join(dir, `full-${policy}`);
      mkdirSync(mount);
      chmodSync(mount, 0o755);
      const script = 'mount -t tmpfs -o size=1m none "$0" && exec "$@"';
      const { stdout } = await exec('unshare', ['--mount', '--propagation', 'private', '--', 'bash', '-c', script, mount, process.execPath, WRITER, 'fill', join(mount, 'outbox.db'), policy, '600']);
      const summary = JSON.parse(stdout.trim().split('\n').pop()!);
      assert.equal(summary.integrity, 'ok');
      assert.equal(summary.accepted + summary.refused, 600);
      if (policy === 'drop-oldest') {
        assert.equal(summary.refused, 0, summary.lastError);
        assert.ok(summary.evicted['drop-oldest'] > 0, 'evicted to make room');
        assert.ok(summary.rows > 50 && summary.rows < 330, `${summary.rows} frames fit in 1 MiB`);
      } else {
        assert.ok(summary.refused > 0);
        assert.match(summary.lastError, /outbox (full \(disk: less than \d+ bytes would stay free\)|storage is full)/);
      }
    });
  }
});
