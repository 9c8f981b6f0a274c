// The outbox names the frames it evicts (drop-oldest, drop-newest, TTL), in
// the same file and transaction, bounded, across restarts: what lets the
// chaos soak tell an evicted frame from a lost one.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { EVICTED_IDS_KEPT } from '../../daemon/outbox/outbox-evicted.ts';
import type { OutboxLimits } from '../../daemon/outbox/outbox.ts';
import { SqliteOutbox } from '../../daemon/outbox/sqlite-outbox.ts';
import { DEFAULT_TEST_LIMITS } from './outbox-conformance.ts';

const dir = mkdtempSync(join(tmpdir(), 'splitoculo-evicted-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const open = (limits: Partial<OutboxLimits>, path = join(dir, `o-${n++}.db`)) => new SqliteOutbox({ path, limits: { ...DEFAULT_TEST_LIMITS, ...limits } });

function put(outbox: SqliteOutbox, capturedAt = Date.now(), now = capturedAt) {
  const id = outbox.nextIdentity();
  return { ...id, ...outbox.enqueue({ ...id, capturedAt, bytes: new Uint8Array(10) }, now) };
}

describe('outbox eviction record', () => {
  it('names each frame drop-oldest evicted, and keeps the names across a restart', () => {
    const path = join(dir, 'named.db');
    const outbox = open({ maxRows: 3 }, path);
    const frames = Array.from({ length: 5 }, () => put(outbox));
    assert.deepEqual(
      outbox.evictions().map((e) => [e.frameId, e.reason]),
      [
        [frames[1]!.frameId, 'drop-oldest'],
        [frames[0]!.frameId, 'drop-oldest'],
      ],
    );
    outbox.close();
    const again = open({ maxRows: 3 }, path);
    assert.deepEqual(
      again.evictions().map((e) => e.sequence),
      [frames[1]!.sequence, frames[0]!.sequence],
    );
    assert.equal(again.stats().evicted['drop-oldest'], again.evictions().length, 'names and counter agree');
    again.close();
  });

  it('names frames dropped new and frames expired', () => {
    const newest = open({ maxRows: 1, policy: 'drop-newest' });
    put(newest);
    const dropped = put(newest);
    assert.equal(dropped.accepted, false);
    assert.deepEqual(
      newest.evictions().map((e) => [e.frameId, e.reason]),
      [[dropped.frameId, 'drop-newest']],
    );
    newest.close();
    const aging = open({ ttlMs: 1000 });
    const old = put(aging, 1_000);
    const young = put(aging, 1_500);
    assert.equal(aging.expire(2_500), 1);
    assert.deepEqual(
      aging.evictions().map((e) => [e.frameId, e.reason]),
      [[old.frameId, 'ttl']],
    );
    assert.deepEqual(
      aging.peek(5).map((f) => f.frameId),
      [young.frameId],
    );
    aging.close();
  });

  it('keeps only the newest names, bounded', () => {
    const outbox = open({ maxRows: 1 }, ':memory:');
    const frames = Array.from({ length: EVICTED_IDS_KEPT + 300 }, () => put(outbox));
    const names = outbox.evictions();
    assert.equal(names.length, EVICTED_IDS_KEPT);
    assert.equal(names[0]!.frameId, frames.at(-2)!.frameId, 'the last eviction first');
    assert.equal(names.at(-1)!.frameId, frames[300 - 1]!.frameId, 'the oldest names went');
    outbox.close();
  });
});
