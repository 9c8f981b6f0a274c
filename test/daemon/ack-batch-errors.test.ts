// The ack batch when its flush fails (SQLITE_BUSY, an I/O error: the real
// database case is test/daemon/outbox-busy.test.ts), on mocked time: the acks
// stay pending in order (those added meanwhile after them), the failure is
// counted once per try and logged once per burst, the retry comes
// ACK_RETRY_MS later (the busy timeout already blocked the event loop), and a
// final flush at stop schedules nothing.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { ACK_FLUSH_MS, ACK_RETRY_MS, AckBatch } from '../../daemon/link/ack-batch.ts';
import type { Clock } from '../../daemon/link/clock.ts';
import { StoreErrors, type StoreWrite } from '../../daemon/link/store-errors.ts';

function mockedClock(t: TestContext, start = 1_700_000_000_000): Clock {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: start });
  return { now: () => Date.now(), wallNow: () => Date.now(), setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (timer) => clearTimeout(timer) };
}

const busy = () => Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });

describe('ack batch flush failures', () => {
  it('keeps the acks pending in order, retries after ACK_RETRY_MS, counts each failure, warns once per burst', (t) => {
    const clock = mockedClock(t);
    let failing = 2;
    const written: number[][] = [];
    const counted: StoreWrite[] = [];
    let warnings = 0;
    const errors = new StoreErrors(
      {
        warn: () => {
          warnings += 1;
        },
      },
      (write) => counted.push(write),
      () => clock.now(),
    );
    const acks = new AckBatch({
      clock,
      errors,
      flush: (sequences) => {
        if (failing > 0) {
          failing -= 1;
          throw busy();
        }
        written.push(sequences);
      },
    });
    acks.add(1);
    acks.add(2);
    t.mock.timers.tick(ACK_FLUSH_MS);
    assert.deepEqual(counted, ['ack']);
    assert.deepEqual(acks.pending, [1, 2]);
    acks.add(3);
    t.mock.timers.tick(ACK_RETRY_MS - 1);
    assert.deepEqual(counted, ['ack'], 'not before ACK_RETRY_MS');
    t.mock.timers.tick(1);
    assert.deepEqual(counted, ['ack', 'ack']);
    assert.deepEqual(acks.pending, [1, 2, 3]);
    t.mock.timers.tick(ACK_RETRY_MS);
    assert.deepEqual(written, [[1, 2, 3]]);
    assert.deepEqual(acks.pending, []);
    assert.equal(warnings, 1, 'one warning for the burst');
    failing = 1;
    acks.add(4);
    t.mock.timers.tick(ACK_FLUSH_MS);
    assert.equal(warnings, 2, 'a new burst after a success is news again');
    assert.equal(acks.flush(true), true, 'the final flush at stop goes through');
    assert.deepEqual(written, [[1, 2, 3], [4]]);
  });

  it('a final flush that fails schedules no retry (the frames stay queued in the outbox: sent again after a restart)', (t) => {
    const clock = mockedClock(t);
    let tries = 0;
    const errors = new StoreErrors(
      { warn: () => undefined },
      () => undefined,
      () => clock.now(),
    );
    const acks = new AckBatch({
      clock,
      errors,
      flush: () => {
        tries += 1;
        throw busy();
      },
    });
    acks.add(7);
    assert.equal(acks.flush(true), false);
    t.mock.timers.tick(ACK_RETRY_MS * 5);
    assert.equal(tries, 1);
  });
});
