// The publisher's parts on mocked time (node:test's mock.timers): no sockets,
// no sleeping; every timer fires when the test moves the clock.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { AckBatch, ACK_FLUSH_MS } from '../../daemon/link/ack-batch.ts';
import { ByteBudget } from '../../daemon/link/byte-budget.ts';
import type { Clock } from '../../daemon/link/clock.ts';
import { InflightWindow, type InflightEntry } from '../../daemon/link/inflight-window.ts';
import { LinkEstimator } from '../../daemon/link/link-estimator.ts';
import { LinkProbe, SECOND_PROBE_MS } from '../../daemon/link/link-probe.ts';
import { Reconnector } from '../../daemon/link/reconnector.ts';

/** Mocks setTimeout and Date from `start`; the clock reads them at each call. */
function mockedClock(t: TestContext, start = 1_700_000_000_000): Clock {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: start });
  return { now: () => Date.now(), wallNow: () => Date.now(), setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (timer) => clearTimeout(timer) };
}

describe('in-flight window', () => {
  it('holds at most `size` publishes and times out each one after timeoutMs, oldest first', (t) => {
    const clock = mockedClock(t);
    const timedOut: InflightEntry[] = [];
    const window = new InflightWindow({ size: 3, timeoutMs: 5000, clock, onTimeout: (entry) => timedOut.push(entry) });
    window.add(1, 100);
    t.mock.timers.tick(10);
    window.add(2, 200);
    window.add(3, 300);
    assert.equal(window.room, 0);
    assert.equal(window.bytes, 600);
    t.mock.timers.tick(4989);
    assert.equal(timedOut.length, 0, 'not one ms early');
    t.mock.timers.tick(1);
    assert.deepEqual(
      timedOut.map((e) => e.sequence),
      [1],
    );
    assert.equal(window.room, 1);
    assert.equal(window.bytes, 500);
    t.mock.timers.tick(10);
    assert.deepEqual(
      timedOut.map((e) => e.sequence),
      [1, 2, 3],
    );
    assert.equal(window.count, 0);
    assert.equal(window.bytes, 0);
  });

  it('records what was in flight ahead of each publish, and when it was sent', (t) => {
    const clock = mockedClock(t);
    const window = new InflightWindow({ size: 8, timeoutMs: 5000, clock, onTimeout: () => assert.fail('no timeout expected') });
    const first = window.add(1, 3000);
    t.mock.timers.tick(25);
    const second = window.add(2, 1000);
    assert.equal(first.bytesAhead, 0);
    assert.equal(second.bytesAhead, 3000);
    assert.equal(second.sentAt - first.sentAt, 25);
    assert.equal(window.settle(first), true);
    assert.equal(window.settle(first), false, 'a PUBACK settles its publish once');
    assert.equal(window.settle(second), true);
    t.mock.timers.tick(10_000); // settled publishes never time out
  });

  it('a PUBACK after the timeout does not free the slot of the copy sent again', (t) => {
    const clock = mockedClock(t);
    const timedOut: number[] = [];
    const window = new InflightWindow({ size: 2, timeoutMs: 300, clock, onTimeout: (entry) => timedOut.push(entry.sequence) });
    const late = window.add(7, 100);
    t.mock.timers.tick(300);
    assert.deepEqual(timedOut, [7]);
    const again = window.add(7, 100);
    assert.equal(window.settle(late), false, 'the late PUBACK of the first copy');
    assert.equal(window.count, 1, 'the second copy keeps its slot and its timeout');
    t.mock.timers.tick(300);
    assert.deepEqual(timedOut, [7, 7]);
    assert.equal(window.settle(again), false);
  });

  it('clear() forgets everything and cancels the timeouts (the connection is gone)', (t) => {
    const clock = mockedClock(t);
    const window = new InflightWindow({ size: 4, timeoutMs: 300, clock, onTimeout: () => assert.fail('cleared publishes do not time out') });
    window.add(1, 10);
    window.add(2, 10);
    window.clear();
    assert.equal(window.count, 0);
    assert.equal(window.bytes, 0);
    assert.equal(window.room, 4);
    t.mock.timers.tick(1000);
  });
});

describe('ack batching', () => {
  it('removes a burst of acknowledged frames in one flush, ACK_FLUSH_MS after the first', (t) => {
    const clock = mockedClock(t);
    const flushes: number[][] = [];
    const acks = new AckBatch({ clock, flush: (sequences) => flushes.push(sequences) });
    acks.add(1);
    t.mock.timers.tick(ACK_FLUSH_MS - 5);
    acks.add(2);
    acks.add(3);
    assert.deepEqual(acks.pending, [1, 2, 3], 'still in the outbox: the sender must skip them');
    t.mock.timers.tick(4);
    assert.deepEqual(flushes, []);
    t.mock.timers.tick(1);
    assert.deepEqual(flushes, [[1, 2, 3]]);
    assert.deepEqual(acks.pending, []);
    acks.add(4);
    acks.flush(); // at stop, or when a test wants the outbox now
    t.mock.timers.tick(ACK_FLUSH_MS * 2);
    assert.deepEqual(flushes, [[1, 2, 3], [4]], 'an explicit flush cancels the timer');
  });
});

describe('link probe', () => {
  it('pings at connect, a second later, then every interval, and times the round trip from the write', (t) => {
    const clock = mockedClock(t);
    const estimator = new LinkEstimator();
    let pings = 0;
    const probe = new LinkProbe({ estimator, clock, intervalMs: 10_000, sendPing: () => pings++ });
    probe.start();
    assert.equal(pings, 1);
    t.mock.timers.tick(15); // mqtt.js writes it later (replaying its store)
    probe.packetSent('pingreq');
    t.mock.timers.tick(42);
    probe.packetReceived('pingresp');
    assert.equal(estimator.rttMs, 42);
    t.mock.timers.tick(SECOND_PROBE_MS - 57);
    assert.equal(pings, 2);
    probe.packetSent('pingreq');
    t.mock.timers.tick(70); // queued behind a frame: slower, and the minimum stays
    probe.packetReceived('pingresp');
    assert.equal(estimator.rttMs, 42);
    t.mock.timers.tick(10_000 - 70);
    assert.equal(pings, 3);
    probe.packetSent('pingreq'); // and no PINGRESP comes
    t.mock.timers.tick(10_000);
    assert.equal(pings, 3, 'no second ping while one is outstanding');
    probe.stop();
    t.mock.timers.tick(60_000);
    assert.equal(pings, 3);
    probe.packetReceived('pingresp'); // after a stop: no ping outstanding, no sample
    assert.equal(estimator.rttMs, 42);
  });

  it('interval 0: only the two probes at connect; a new connection starts again', (t) => {
    const clock = mockedClock(t);
    let pings = 0;
    const probe = new LinkProbe({ estimator: new LinkEstimator(), clock, intervalMs: 0, sendPing: () => pings++ });
    probe.start();
    t.mock.timers.tick(SECOND_PROBE_MS);
    assert.equal(pings, 2);
    t.mock.timers.tick(3_600_000);
    assert.equal(pings, 2);
    probe.start();
    assert.equal(pings, 3);
  });
});

describe('reconnector', () => {
  it('backs off exponentially under full jitter, once at a time, and starts again after a connect', (t) => {
    const clock = mockedClock(t);
    let reconnects = 0;
    const r = new Reconnector({ initialMs: 200, maxMs: 1000, clock, random: () => 0.5, reconnect: () => reconnects++ });
    assert.equal(r.schedule(), 100);
    assert.equal(r.schedule(), null, 'one reconnect at a time');
    t.mock.timers.tick(99);
    assert.equal(reconnects, 0);
    t.mock.timers.tick(1);
    assert.equal(reconnects, 1);
    assert.equal(r.schedule(), 200);
    t.mock.timers.tick(200);
    assert.equal(r.schedule(), 400);
    t.mock.timers.tick(400);
    assert.equal(r.schedule(), 500, 'capped at maxMs (times the jitter)');
    t.mock.timers.tick(500);
    assert.equal(reconnects, 4);
    assert.equal(r.count, 4);
    r.connected();
    assert.equal(r.schedule(), 100);
    r.stop();
    t.mock.timers.tick(10_000);
    assert.equal(reconnects, 4, 'stopped: the scheduled reconnect does not run');
    assert.equal(r.schedule(), null);
  });
});

describe('byte budget on mocked wall time', () => {
  it('waits for the next UTC day once the daily budget is spent', (t) => {
    mockedClock(t, Date.UTC(2026, 10, 30, 23, 59, 0));
    const budget = new ByteBudget(undefined, 10_000);
    budget.spend(9000);
    const wait = budget.delayFor(3000);
    assert.equal(wait, 60_000, 'until midnight UTC');
    t.mock.timers.tick(wait);
    assert.equal(budget.delayFor(3000), 0);
    assert.equal(budget.usedToday, 0);
  });
});
