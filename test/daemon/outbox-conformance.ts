// Behaviour every Outbox implementation must have. Run against each one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OutboxFullError, type Outbox, type OutboxLimits } from '../../daemon/outbox/outbox.ts';

export type OutboxFactory = (limits: Partial<OutboxLimits>, order?: 'oldest-first' | 'newest-first') => Outbox;

export const DEFAULT_TEST_LIMITS: OutboxLimits = { maxRows: 1000, maxBytes: 10_000_000, ttlMs: 0, policy: 'drop-oldest', maxAnswers: 100 };

function put(outbox: Outbox, size = 100, capturedAt = Date.now()) {
  const id = outbox.nextIdentity();
  const result = (() => {
    try {
      return outbox.enqueue({ ...id, capturedAt, bytes: new Uint8Array(size).fill(id.sequence & 0xff) });
    } catch (error) {
      if (error instanceof OutboxFullError) return { accepted: false, evicted: {}, rejected: true };
      throw error;
    }
  })();
  return { ...id, ...result };
}

export function outboxConformance(name: string, make: OutboxFactory): void {
  describe(`outbox conformance: ${name}`, () => {
    it('hands out increasing sequences and unique time-ordered frame ids', () => {
      const outbox = make({});
      const ids = Array.from({ length: 50 }, () => outbox.nextIdentity());
      for (let i = 1; i < ids.length; i++) {
        assert.equal(ids[i]!.sequence, ids[i - 1]!.sequence + 1);
        assert.ok(ids[i]!.frameId > ids[i - 1]!.frameId);
      }
      outbox.close();
    });

    it('keeps frames until acknowledged, in oldest-first order', () => {
      const outbox = make({});
      const a = put(outbox);
      const b = put(outbox);
      const c = put(outbox);
      assert.deepEqual(
        outbox.peek(10).map((f) => f.sequence),
        [a.sequence, b.sequence, c.sequence],
      );
      assert.deepEqual(
        outbox.peek(10, new Set([a.sequence])).map((f) => f.sequence),
        [b.sequence, c.sequence],
      );
      outbox.ack([b.sequence, 999_999]);
      assert.deepEqual(
        outbox.peek(10).map((f) => f.sequence),
        [a.sequence, c.sequence],
      );
      assert.equal(outbox.stats().rows, 2);
      assert.equal(outbox.stats().bytes, 200);
      const frame = outbox.peek(1)[0]!;
      assert.equal(frame.bytes.length, 100);
      assert.equal(frame.bytes[0], a.sequence & 0xff);
      outbox.close();
    });

    it('delivers newest-first when configured', () => {
      const outbox = make({}, 'newest-first');
      const seqs = [put(outbox), put(outbox), put(outbox)].map((f) => f.sequence);
      assert.deepEqual(
        outbox.peek(2).map((f) => f.sequence),
        [seqs[2], seqs[1]],
      );
      outbox.close();
    });

    it('drop-oldest evicts the oldest frames and counts them', () => {
      const outbox = make({ maxRows: 3, policy: 'drop-oldest' });
      const seqs = Array.from({ length: 5 }, () => put(outbox).sequence);
      assert.deepEqual(
        outbox.peek(10).map((f) => f.sequence),
        seqs.slice(2),
      );
      assert.equal(outbox.stats().evicted['drop-oldest'], 2);
      outbox.close();
    });

    it('drop-newest keeps the queue and drops the new frame, counted', () => {
      const outbox = make({ maxRows: 2, policy: 'drop-newest' });
      const first = [put(outbox), put(outbox)].map((f) => f.sequence);
      const third = put(outbox);
      assert.equal(third.accepted, false);
      assert.deepEqual(
        outbox.peek(10).map((f) => f.sequence),
        first,
      );
      assert.equal(outbox.stats().evicted['drop-newest'], 1);
      outbox.close();
    });

    it('reject refuses the new frame with OutboxFullError, counted', () => {
      const outbox = make({ maxRows: 2, policy: 'reject' });
      put(outbox);
      put(outbox);
      const id = outbox.nextIdentity();
      assert.throws(() => outbox.enqueue({ ...id, capturedAt: Date.now(), bytes: new Uint8Array(10) }), OutboxFullError);
      assert.equal(outbox.stats().rows, 2);
      assert.equal(outbox.stats().rejected, 1);
      outbox.close();
    });

    it('never holds more than its byte bound', () => {
      const outbox = make({ maxBytes: 1000, policy: 'drop-oldest' });
      for (let i = 0; i < 40; i++) {
        put(outbox, 90 + (i % 7) * 10);
        assert.ok(outbox.stats().bytes <= 1000, `${outbox.stats().bytes} bytes`);
      }
      assert.ok(outbox.stats().evicted['drop-oldest'] > 0);
      const huge = outbox.nextIdentity();
      assert.throws(() => outbox.enqueue({ ...huge, capturedAt: Date.now(), bytes: new Uint8Array(1001) }), OutboxFullError);
      outbox.close();
    });

    it('expires frames past their TTL, counted', () => {
      const outbox = make({ ttlMs: 1000 });
      const now = Date.now();
      put(outbox, 10, now - 5000);
      put(outbox, 10, now - 2000);
      const fresh = put(outbox, 10, now);
      assert.equal(outbox.stats().rows, 1); // the third enqueue swept the other two
      assert.equal(outbox.stats().evicted.ttl, 2);
      assert.deepEqual(
        outbox.peek(5).map((f) => f.sequence),
        [fresh.sequence],
      );
      assert.equal(outbox.expire(now + 10_000), 1);
      assert.equal(outbox.stats().rows, 0);
      outbox.close();
    });

    it('stores each answer once and keeps a bounded number', () => {
      const outbox = make({ maxAnswers: 3 });
      assert.equal(outbox.storeAnswer('f1', '{"a":1}', 1), true);
      assert.equal(outbox.storeAnswer('f1', '{"a":1}', 2), false);
      for (const [i, id] of ['f2', 'f3', 'f4'].entries()) outbox.storeAnswer(id, `{"i":${i}}`, 10 + i);
      assert.deepEqual(
        outbox.answers().map((a) => a.frameId),
        ['f2', 'f3', 'f4'],
      );
      assert.deepEqual(
        outbox.answers({ afterReceivedAt: 10 }).map((a) => a.frameId),
        ['f3', 'f4'],
      );
      assert.equal(outbox.stats().answers, 3);
      outbox.close();
    });

    it('an acknowledged frame leaves the queue but awaits its answer until the answer is stored; ids never stored are not awaited', () => {
      const outbox = make({});
      const a = put(outbox);
      const b = put(outbox);
      outbox.ack([a.sequence]);
      assert.deepEqual(
        outbox.peek(10).map((f) => f.sequence),
        [b.sequence],
      );
      assert.deepEqual(
        [...outbox.all()].map((f) => f.sequence),
        [b.sequence],
      );
      assert.equal(outbox.stats().rows, 1);
      assert.equal(outbox.stats().bytes, 100);
      assert.equal(outbox.isAwaitingAnswer(a.frameId), true, 'acknowledged, not answered');
      assert.equal(outbox.isAwaitingAnswer(b.frameId), true, 'queued: sent or about to be');
      assert.equal(outbox.isAwaitingAnswer(outbox.nextIdentity().frameId), false, 'issued, never stored');
      assert.equal(outbox.isAwaitingAnswer('0190a5c4-7e3b-7000-8000-000000000000'), false);
      outbox.ack([a.sequence]); // a second PUBACK changes nothing
      assert.equal(outbox.stats().rows, 1);
      assert.equal(outbox.storeAnswer(a.frameId, '{}'), true);
      assert.equal(outbox.isAwaitingAnswer(a.frameId), false, 'answered');
      // An answer for a frame still queued (its PUBACK lost in a crash): the cloud has it, it is not sent again.
      assert.equal(outbox.storeAnswer(b.frameId, '{}'), true);
      assert.equal(outbox.isAwaitingAnswer(b.frameId), false);
      assert.deepEqual(outbox.peek(10), []);
      assert.equal(outbox.stats().rows, 0);
      assert.equal(outbox.stats().bytes, 0);
      assert.equal(outbox.stats().oldestCapturedAt, null);
      outbox.close();
    });

    it('frames awaiting answers do not count against the queue bounds, nor get evicted as queued frames', () => {
      const outbox = make({ maxRows: 2, ttlMs: 1000, policy: 'drop-oldest' });
      const now = Date.now();
      const acked = [put(outbox, 100, now), put(outbox, 100, now)];
      outbox.ack(acked.map((f) => f.sequence));
      assert.equal(outbox.expire(now + 10_000), 0, 'past the TTL, but no longer queued');
      const fresh = [put(outbox, 100, now), put(outbox, 100, now)];
      assert.deepEqual(
        outbox.peek(10).map((f) => f.sequence),
        fresh.map((f) => f.sequence),
      );
      assert.equal(outbox.stats().evicted['drop-oldest'], 0);
      assert.equal(outbox.stats().evicted.ttl, 0);
      for (const f of acked) assert.equal(outbox.isAwaitingAnswer(f.frameId), true);
      assert.equal(outbox.purge(), 2, 'purge empties the queue');
      for (const f of acked) assert.equal(outbox.isAwaitingAnswer(f.frameId), true, 'purge leaves what awaits an answer');
      outbox.close();
    });

    it('lists everything for export and purges on request', () => {
      const outbox = make({});
      put(outbox);
      put(outbox);
      assert.equal([...outbox.all()].length, 2);
      assert.equal(outbox.purge(), 2);
      assert.equal(outbox.stats().rows, 0);
      assert.equal(outbox.stats().bytes, 0);
      outbox.close();
    });
  });
}
