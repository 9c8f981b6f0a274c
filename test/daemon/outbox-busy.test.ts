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
import { after, afterEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { AckBatch } from '../../daemon/link/ack-batch.ts';
import { systemClock } from '../../daemon/link/clock.ts';
import { StoreErrors, type StoreWrite } from '../../daemon/link/store-errors.ts';
import { SqliteOutbox } from '../../daemon/outbox/sqlite-outbox.ts';
import { edgeCase } from '../helpers/edge-case.ts';
import { awaitingFrames } from '../helpers/outbox-state.ts';
import { FrameCollector } from '../helpers/frame-collector.ts';
import { EdgeProcess, stopAllEdges } from '../helpers/edge-process.ts';
import { scrapeMetric, waitForMetric } from '../helpers/metrics.ts';
import { freePort, Mosquitto } from '../helpers/mosquitto.ts';
import { FRAMES_DIR } from '../helpers/paths.ts';
import { waitFor } from '../helpers/wait.ts';
import { DEFAULT_TEST_LIMITS } from './outbox-conformance.ts';

const dir = mkdtempSync(join(tmpdir(), 'splitoculo-outbox-busy-'));
after(() => rmSync(dir, { recursive: true, force: true }));
afterEach(stopAllEdges);

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
    assert.equal(awaitingFrames(path), 3, 'all three acknowledged in the file, awaiting their answers');
    assert.equal(warnings, 2, 'the success ended the burst quietly');
  });

  it('the real daemon, publishing every 200 ms, survives the lock: counted, and frames flow and the queue drains after it', { timeout: 240_000 }, async () => {
    const broker = await Mosquitto.start();
    // In a cloud worker's place: frames no one subscribes to stay queued (unrouted-frames.test.ts).
    const taker = await FrameCollector.connect(broker.url, 'busy-taker', 'splitoculo/v1/busy-cam/frame', { protocolVersion: 5 });
    try {
      const metricsPort = await freePort();
      const { dir: caseDir, path } = edgeCase(dir, {
        device: { id: 'busy-cam' },
        camera: { type: 'file', path: join(FRAMES_DIR, 'coins.png') },
        capture: { intervalMs: 200 },
        mqtt: { url: broker.url },
        metrics: { port: metricsPort },
      });
      const edge = new EdgeProcess(path);
      await waitForMetric(metricsPort, 'splitoculo_frames_published_total', (n) => n >= 2, { timeoutMs: 60_000 });
      // The daemon writes every few hundred ms (a deferred transaction is open up to 1 s at a time): on a loaded
      // machine the gaps between its transactions are short, so the lock is waited for long, not 10 s (flaky).
      const locker = new Database(join(caseDir, 'outbox.db'), { timeout: 90_000 });
      locker.exec('BEGIN EXCLUSIVE');
      try {
        // The daemon's writes wait out SQLite's busy timeout (5 s), then fail: counted, not fatal.
        await waitForMetric(metricsPort, 'splitoculo_outbox_write_errors_total', (n) => n >= 1, { timeoutMs: 60_000 });
      } finally {
        locker.exec('COMMIT');
        locker.close();
      }
      assert.equal(edge.child.exitCode, null, 'the daemon survived');
      assert.ok((await scrapeMetric(metricsPort, 'splitoculo_outbox_write_errors_total', { write: 'ack' })) >= 1);
      const published = await scrapeMetric(metricsPort, 'splitoculo_frames_published_total');
      await waitForMetric(metricsPort, 'splitoculo_frames_published_total', (n) => n >= published + 3, { timeoutMs: 30_000 });
      await waitForMetric(metricsPort, 'splitoculo_queue_frames', (n) => n === 0, { timeoutMs: 30_000 });
      assert.equal(edge.child.exitCode, null);
      await edge.stop();
    } finally {
      await taker.close();
      await broker.dispose();
    }
  });
});
