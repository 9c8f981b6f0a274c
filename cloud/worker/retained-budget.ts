/**
 * Which retained messages the embedded broker keeps. aedes keeps anything any
 * client retains, in memory, forever: 1,300 anonymous 1 MB retained messages
 * grew the worker from 403 MB to 1,734 MB. Here every retained message is at
 * most the size of a JSON document the readers accept, and two pools bound
 * the count and bytes kept: edges' status documents (their state, and the
 * MQTT will that sets it offline) in their own pool, so junk elsewhere cannot
 * crowd them out; everything else (e.g. Home Assistant discovery) in a
 * smaller one. A retained message refused is still delivered to the live
 * subscribers, with its retain flag cleared, and counted.
 */
import { MAX_JSON_INPUT_BYTES } from '../../protocol/limits.ts';
import type { TopicMap } from '../../protocol/topics.ts';

export interface PoolLimits {
  /** Topics with a retained message. */
  maxTopics: number;
  /** Their payloads together. */
  maxBytes: number;
}

export interface RetainedLimits {
  status: PoolLimits;
  other: PoolLimits;
  /** One retained message (readers refuse larger JSON unread). */
  maxMessageBytes: number;
}

export const RETAINED_LIMITS: RetainedLimits = {
  status: { maxTopics: 50_000, maxBytes: 32 * 1024 * 1024 },
  other: { maxTopics: 2_000, maxBytes: 8 * 1024 * 1024 },
  maxMessageBytes: MAX_JSON_INPUT_BYTES,
};

/** Payload bytes per retained topic of one pool: mirrors what the broker's retained store holds. */
class Pool {
  readonly kept = new Map<string, number>();
  bytes = 0;
  readonly limits: PoolLimits;

  constructor(limits: PoolLimits) {
    this.limits = limits;
  }

  admit(topic: string, bytes: number): boolean {
    const previous = this.kept.get(topic);
    const topicsAfter = this.kept.size + (previous === undefined ? 1 : 0);
    const bytesAfter = this.bytes - (previous ?? 0) + bytes;
    if (topicsAfter > this.limits.maxTopics || bytesAfter > this.limits.maxBytes) return false;
    this.kept.set(topic, bytes);
    this.bytes = bytesAfter;
    return true;
  }

  forget(topic: string): void {
    this.bytes -= this.kept.get(topic) ?? 0;
    this.kept.delete(topic);
  }
}

export class RetainedBudget {
  readonly #topics: TopicMap;
  readonly #maxMessageBytes: number;
  readonly #status: Pool;
  readonly #other: Pool;

  constructor(topics: TopicMap, limits: RetainedLimits = RETAINED_LIMITS) {
    this.#topics = topics;
    this.#maxMessageBytes = limits.maxMessageBytes;
    this.#status = new Pool(limits.status);
    this.#other = new Pool(limits.other);
  }

  /** True when the message may stay retained; false: deliver it without the retain flag. */
  admit(topic: string, bytes: number): boolean {
    const pool = this.#topics.parse(topic)?.kind === 'status' ? this.#status : this.#other;
    if (bytes === 0) {
      // An empty retained message deletes the topic's retained one.
      pool.forget(topic);
      return true;
    }
    return bytes <= this.#maxMessageBytes && pool.admit(topic, bytes);
  }

  get topics(): number {
    return this.#status.kept.size + this.#other.kept.size;
  }

  get bytes(): number {
    return this.#status.bytes + this.#other.bytes;
  }
}
