/**
 * An operator's ask goes out before the backlog. The outbox keeps its one
 * delivery order (oldest-first or newest-first); this view of it puts the
 * frames marked urgent at the head of `peek`, so the publisher sends them
 * first, and is otherwise the outbox itself. Durability is unchanged: an
 * urgent frame is committed to the outbox like any other before it is
 * marked, and leaves it only when acknowledged. Urgent frames are held here
 * by sequence until acknowledged (one per ask: a handful at most).
 */
import type { Outbox, QueuedFrame } from './outbox.ts';

export function urgentFirst(outbox: Outbox): Outbox & { markUrgent(frame: QueuedFrame): void } {
  const urgent = new Map<number, QueuedFrame>();
  return {
    markUrgent: (frame) => urgent.set(frame.sequence, frame),
    peek(limit, exclude = new Set()) {
      const first = [...urgent.values()].filter((f) => !exclude.has(f.sequence)).slice(0, limit);
      if (first.length === limit) return first;
      const skip = new Set([...exclude, ...urgent.keys()]);
      return [...first, ...outbox.peek(limit - first.length, skip)];
    },
    ack(sequences) {
      for (const sequence of sequences) urgent.delete(sequence);
      outbox.ack(sequences);
    },
    purge() {
      urgent.clear();
      return outbox.purge();
    },
    nextIdentity: () => outbox.nextIdentity(),
    enqueue: (frame, now) => outbox.enqueue(frame, now),
    markAttempt: (sequence) => outbox.markAttempt(sequence),
    expire: (now) => outbox.expire(now),
    stats: () => outbox.stats(),
    evictions: (limit) => outbox.evictions(limit),
    storeAnswer: (frameId, payload, receivedAt) => outbox.storeAnswer(frameId, payload, receivedAt),
    answers: (options) => outbox.answers(options),
    isAwaitingAnswer: (frameId, now) => outbox.isAwaitingAnswer(frameId, now),
    all: () => outbox.all(),
    close: () => outbox.close(),
  };
}
