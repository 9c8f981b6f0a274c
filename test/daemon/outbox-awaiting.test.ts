// Frames the broker acknowledged await their answers in the outbox file
// itself (outbox/outbox-awaiting.ts): the ids whose answers the edge accepts
// survive a close without any stop hook and a SIGKILL, stay bounded, and
// answers for ids never stored are still refused. Before, the list was a file
// written at stop: a crashed edge refused the answers to every frame it had
// sent (the chaos soak lost 132 of 304 frames of one device).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ExpectedAnswers } from '../../daemon/control/expected-answers.ts';
import { SqliteOutbox } from '../../daemon/outbox/sqlite-outbox.ts';
import { FrameIdGenerator } from '../../protocol/wire/frame-id.ts';
import { awaitingFrames } from '../helpers/outbox-state.ts';
import { REPO_ROOT } from '../helpers/paths.ts';
import { DEFAULT_TEST_LIMITS } from './outbox-conformance.ts';

const dir = mkdtempSync(join(tmpdir(), 'splitoculo-awaiting-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (options: { awaiting?: { windowMs?: number; max?: number } } = {}) => {
  const path = join(dir, `outbox-${n++}.db`);
  return { path, outbox: new SqliteOutbox({ path, limits: DEFAULT_TEST_LIMITS, ...options }) };
};
const put = (outbox: SqliteOutbox, now = Date.now()) => {
  const id = outbox.nextIdentity();
  outbox.enqueue({ ...id, capturedAt: now, bytes: new Uint8Array(3000).fill(id.sequence & 0xff) }, now);
  return id;
};

describe('outbox: acknowledged frames await their answers', () => {
  it('after a SIGKILL (no stop, no close), answers to the acknowledged frames are accepted; an id never sent is refused', () => {
    const path = join(dir, 'killed.db');
    const script = `
      import { SqliteOutbox } from ${JSON.stringify(join(REPO_ROOT, 'daemon/outbox/sqlite-outbox.ts'))};
      const outbox = new SqliteOutbox({ path: ${JSON.stringify(path)}, limits: ${JSON.stringify(DEFAULT_TEST_LIMITS)} });
      const put = () => { const id = outbox.nextIdentity(); outbox.enqueue({ ...id, capturedAt: Date.now(), bytes: new Uint8Array(3000) }); return id; };
      const acked = [put(), put(), put()];
      outbox.ack(acked.map((f) => f.sequence));
      const queued = put(); // its commit carries the deferred acks
      process.stdout.write(JSON.stringify({ acked: acked.map((f) => f.frameId), queued: queued.frameId }));
      process.kill(process.pid, 'SIGKILL');`;
    let out = '';
    try {
      execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      out = (error as { stdout: string }).stdout;
    }
    const sent = JSON.parse(out) as { acked: string[]; queued: string };
    const reopened = new SqliteOutbox({ path, limits: DEFAULT_TEST_LIMITS });
    assert.equal(reopened.stats().rows, 1, 'only the unacknowledged frame is queued');
    assert.deepEqual(
      reopened.peek(10).map((f) => f.frameId),
      [sent.queued],
    );
    const expected = new ExpectedAnswers({ held: (id) => reopened.isAwaitingAnswer(id) });
    assert.deepEqual(
      sent.acked.map((id) => expected.take(id)),
      ['expected', 'expected', 'expected'],
    );
    assert.equal(expected.take(sent.queued), 'expected', 'a queued frame may have reached the cloud before the crash');
    assert.equal(expected.take(new FrameIdGenerator().next()), 'unexpected', 'never sent');
    for (const id of sent.acked) assert.equal(reopened.storeAnswer(id, '{}'), true);
    assert.equal(awaitingFrames(path), 0, 'answered rows are deleted with their answer');
    reopened.close();
  });

  it('closed without any stop hook and reopened: the acknowledged frames still await; answered ones do not', () => {
    const { path, outbox } = fresh();
    const frames = [put(outbox), put(outbox), put(outbox)];
    outbox.ack(frames.map((f) => f.sequence));
    outbox.storeAnswer(frames[0]!.frameId, '{}');
    outbox.close();
    const reopened = new SqliteOutbox({ path, limits: DEFAULT_TEST_LIMITS });
    assert.deepEqual(
      frames.map((f) => reopened.isAwaitingAnswer(f.frameId)),
      [false, true, true],
    );
    assert.equal(reopened.stats().rows, 0);
    assert.equal(reopened.nextIdentity().sequence, frames[2]!.sequence + 1, 'the identity is never reused');
    reopened.close();
  });

  it('is bounded by count: the oldest acknowledged go first', () => {
    const { path, outbox } = fresh({ awaiting: { max: 100 } });
    const frames = Array.from({ length: 500 }, () => {
      const id = put(outbox);
      outbox.ack([id.sequence]);
      return id;
    });
    outbox.close();
    assert.ok(awaitingFrames(path) <= 100, `${awaitingFrames(path)} rows awaiting`);
    assert.ok(awaitingFrames(path) >= 100 - 64, 'evicted in batches, not all at once');
    const reopened = new SqliteOutbox({ path, limits: DEFAULT_TEST_LIMITS, awaiting: { max: 100 } });
    assert.equal(reopened.isAwaitingAnswer(frames[0]!.frameId), false);
    assert.equal(reopened.isAwaitingAnswer(frames.at(-1)!.frameId), true);
    assert.equal(reopened.nextIdentity().sequence, 501);
    reopened.close();
  });

  it('is bounded by age: answers accepted for the answer window after the ack, the row deleted by a write a sixteenth of it later', () => {
    const windowMs = 60_000;
    const { path, outbox } = fresh({ awaiting: { windowMs } });
    const now = Date.now();
    const acked = put(outbox, now);
    outbox.ack([acked.sequence]);
    const ackedAt = Date.now();
    put(outbox, now + windowMs - 1000); // each enqueue sweeps what is past the window
    assert.equal(outbox.isAwaitingAnswer(acked.frameId, now + windowMs - 1000), true);
    assert.equal(outbox.isAwaitingAnswer(acked.frameId, ackedAt + windowMs + 1), false, 'past the window: refused, though no write has evicted it yet');
    assert.equal(awaitingFrames(path), 1);
    put(outbox, ackedAt + windowMs + windowMs / 8);
    assert.equal(awaitingFrames(path), 0, 'evicted by the next enqueue past the window and its slack');
    outbox.close();
  });

  it('opens a file made before the acked_at column: its frames are queued, and awaited once acknowledged', () => {
    const path = join(dir, 'old-schema.db');
    const old = new Database(path);
    old.exec('CREATE TABLE frames (seq INTEGER PRIMARY KEY, frame_id TEXT NOT NULL, captured_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, bytes BLOB NOT NULL)');
    const id = new FrameIdGenerator().next();
    old.prepare('INSERT INTO frames (seq, frame_id, captured_at, bytes) VALUES (7, ?, 1, ?)').run(id, Buffer.alloc(50));
    old.close();
    const outbox = new SqliteOutbox({ path, limits: DEFAULT_TEST_LIMITS });
    assert.deepEqual(
      outbox.peek(5).map((f) => f.frameId),
      [id],
    );
    outbox.ack([7]);
    assert.equal(outbox.stats().rows, 0);
    assert.equal(outbox.isAwaitingAnswer(id), true);
    assert.equal(outbox.nextIdentity().sequence, 8);
    outbox.close();
  });

  it('finds queued frames past many awaiting ones in either delivery order, a late lower sequence included', () => {
    for (const order of ['oldest-first', 'newest-first'] as const) {
      const outbox = new SqliteOutbox({ path: join(dir, `order-${n++}.db`), limits: DEFAULT_TEST_LIMITS, order });
      const early = outbox.nextIdentity(); // issued first, stored last (a frame slow to encode)
      for (let i = 0; i < 50; i++) {
        const id = put(outbox);
        outbox.ack([id.sequence]);
      }
      const queued = put(outbox);
      assert.deepEqual(
        outbox.peek(5).map((f) => f.sequence),
        [queued.sequence],
      );
      outbox.enqueue({ ...early, capturedAt: Date.now(), bytes: new Uint8Array(10) });
      assert.deepEqual(
        outbox.peek(5).map((f) => f.sequence),
        order === 'oldest-first' ? [early.sequence, queued.sequence] : [queued.sequence, early.sequence],
      );
      assert.equal(outbox.stats().rows, 2);
      outbox.close();
    }
  });
});
