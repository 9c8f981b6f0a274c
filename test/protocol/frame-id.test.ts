import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameIdGenerator, frameIdTimestamp, frameIdToBytes, frameIdToString, isFrameId } from '../../protocol/wire/frame-id.ts';

describe('frame ids', () => {
  it('are UUIDv7 strings carrying the capture millisecond', () => {
    const id = new FrameIdGenerator({ now: () => 1_764_000_000_123 }).next();
    assert.ok(isFrameId(id), id);
    assert.equal(frameIdTimestamp(id), 1_764_000_000_123);
    assert.equal(frameIdToString(frameIdToBytes(id)), id);
  });

  it('strictly increase while the clock stands still or steps back', () => {
    const clock = [5_000, 5_000, 5_000, 4_000, 1_000, 5_000, 6_000, 6_000];
    let i = 0;
    const generator = new FrameIdGenerator({ now: () => clock[Math.min(i++, clock.length - 1)]! });
    const ids = Array.from({ length: 5000 }, () => generator.next());
    for (let k = 1; k < ids.length; k++) assert.ok(ids[k - 1]! < ids[k]!, `${ids[k - 1]} !< ${ids[k]}`);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('continue past the newest stored id after a restart with the clock in 1970', () => {
    const before = new FrameIdGenerator({ now: () => 1_764_000_000_000 }).next();
    const after = new FrameIdGenerator({ after: before, now: () => 0 });
    const next = after.next();
    assert.ok(next > before, `${next} should sort after ${before}`);
    assert.ok(after.next() > next);
  });

  it('reject strings that are not UUIDv7', () => {
    assert.equal(isFrameId('00000000-0000-4000-8000-000000000000'), false);
    assert.throws(() => frameIdTimestamp('nope'), /not a frame id/);
  });
});
