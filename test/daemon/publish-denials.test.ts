// The publisher's record of frames the broker refuses (daemon/link/publish-
// denials.ts), on mocked time: which PUBACK errors are refusals, the hold
// after each, the state the status document shows, one warning per burst
// (again when the reason changes), the burst's end on the first accepted
// frame, and a new connection lifting the hold.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { Clock } from '../../daemon/link/clock.ts';
import { PublishDenials, refusalCode } from '../../daemon/link/publish-denials.ts';

function mockedClock(t: TestContext, start = 1_700_000_000_000): Clock {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: start });
  return { now: () => Date.now(), wallNow: () => Date.now(), setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (timer) => clearTimeout(timer) };
}

function logger() {
  const lines = { warn: 0, info: 0 };
  const log = {
    warn: () => {
      lines.warn += 1;
    },
    info: () => {
      lines.info += 1;
    },
  };
  return { lines, log };
}

describe('publish denials', () => {
  it('refusals are PUBACK reason codes 0x80..0xff; a closed connection or a success code is not', () => {
    assert.equal(refusalCode(Object.assign(new Error('Publish error: Not authorized'), { code: 0x87 })), 0x87);
    assert.equal(refusalCode(Object.assign(new Error('Publish error: Quota exceeded'), { code: 0x97 })), 0x97);
    assert.equal(refusalCode(new Error('Connection closed')), null);
    assert.equal(refusalCode(Object.assign(new Error('x'), { code: 'ECONNRESET' })), null);
    assert.equal(refusalCode(Object.assign(new Error('x'), { code: 0x10 })), null);
  });

  it('holds frames back after each refusal, counts the burst, warns once per reason, ends the burst on an accepted frame', (t) => {
    const clock = mockedClock(t);
    const { lines, log } = logger();
    const counted: Array<[number, string]> = [];
    const denials = new PublishDenials({ clock, log, holdMs: 5000, onDenied: (code, reason) => counted.push([code, reason]) });
    assert.equal(denials.holdMs(), 0);
    denials.denied(0x87, 'Publish error: Not authorized');
    denials.denied(0x87, 'Publish error: Not authorized');
    assert.deepEqual(denials.state, { code: 0x87, reason: 'not authorized', frames: 2, since: new Date(1_700_000_000_000).toISOString() });
    assert.equal(denials.holdMs(), 5000);
    t.mock.timers.tick(4000);
    assert.equal(denials.holdMs(), 1000);
    t.mock.timers.tick(1000);
    assert.equal(denials.holdMs(), 0, 'offered again after the hold');
    denials.denied(0x97, 'Publish error: Quota exceeded');
    assert.equal(denials.state?.frames, 1, 'a new reason starts a new burst');
    assert.equal(lines.warn, 2, 'one warning per reason');
    assert.deepEqual(
      counted.map(([code]) => code),
      [0x87, 0x87, 0x97],
    );
    denials.reconnected();
    assert.equal(denials.holdMs(), 0, 'a new connection offers the frames at once');
    assert.ok(denials.state, 'the refusal stands until a frame is accepted');
    denials.accepted();
    assert.equal(denials.state, null);
    assert.equal(lines.info, 1, 'one line when frames flow again');
    denials.accepted();
    assert.equal(lines.info, 1);
  });
});
