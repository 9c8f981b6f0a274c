/**
 * Which retained messages the embedded broker keeps. In this protocol only
 * an edge's status document is retained (its state, and the MQTT will that
 * sets it offline); aedes would otherwise keep anything any client retains,
 * in memory, forever: 1,300 anonymous 1 MB retained messages grew the worker
 * from 403 MB to 1,734 MB. A retained message outside a status topic, over
 * the size of a status document, or past the count or byte budget is still
 * delivered to the live subscribers, with its retain flag cleared, and counted.
 */
import { MAX_JSON_INPUT_BYTES } from '../../protocol/limits.ts';
import type { TopicMap } from '../../protocol/topics.ts';

export interface RetainedLimits {
  /** Status topics with a retained document. */
  maxTopics: number;
  /** Their payloads together. */
  maxBytes: number;
  /** One status document (readers refuse larger JSON unread). */
  maxMessageBytes: number;
}

export const RETAINED_LIMITS: RetainedLimits = { maxTopics: 50_000, maxBytes: 32 * 1024 * 1024, maxMessageBytes: MAX_JSON_INPUT_BYTES };

export class RetainedBudget {
  readonly #topics: TopicMap;
  readonly #limits: RetainedLimits;
  /** Payload bytes per retained topic: mirrors what the broker's retained store holds. */
  readonly #kept = new Map<string, number>();
  #bytes = 0;

  constructor(topics: TopicMap, limits: RetainedLimits = RETAINED_LIMITS) {
    this.#topics = topics;
    this.#limits = limits;
  }

  /** True when the message may stay retained; false: deliver it without the retain flag. */
  admit(topic: string, bytes: number): boolean {
    if (this.#topics.parse(topic)?.kind !== 'status') return false;
    const previous = this.#kept.get(topic);
    if (bytes === 0) {
      // An empty retained message deletes the topic's retained one.
      if (previous !== undefined) this.#forget(topic, previous);
      return true;
    }
    if (bytes > this.#limits.maxMessageBytes) return false;
    const topicsAfter = this.#kept.size + (previous === undefined ? 1 : 0);
    const bytesAfter = this.#bytes - (previous ?? 0) + bytes;
    if (topicsAfter > this.#limits.maxTopics || bytesAfter > this.#limits.maxBytes) return false;
    this.#kept.set(topic, bytes);
    this.#bytes = bytesAfter;
    return true;
  }

  #forget(topic: string, bytes: number): void {
    this.#kept.delete(topic);
    this.#bytes -= bytes;
  }

  get topics(): number {
    return this.#kept.size;
  }

  get bytes(): number {
    return this.#bytes;
  }
}
