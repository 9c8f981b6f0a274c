/**
 * Acknowledged frames leave the outbox in batches: deleting them a few ms
 * late is safe (a crash only means a duplicate, which the cloud deduplicates)
 * and turns a burst of PUBACKs into one SQLite transaction. Until the flush
 * the frames are still in the outbox, so the sender must skip `pending`.
 */
import type { Clock, Timer } from './clock.ts';

export const ACK_FLUSH_MS = 20;

export interface AckBatchOptions {
  clock: Clock;
  delayMs?: number;
  /** Removes the frames from the outbox, in one transaction. */
  flush(sequences: number[]): void;
}

export class AckBatch {
  readonly #o: AckBatchOptions;
  #pending: number[] = [];
  #timer: Timer | null = null;

  constructor(options: AckBatchOptions) {
    this.#o = options;
  }

  /** Acknowledged but not yet removed from the outbox. */
  get pending(): readonly number[] {
    return this.#pending;
  }

  add(sequence: number): void {
    this.#pending.push(sequence);
    this.#timer ??= this.#o.clock.setTimeout(() => this.flush(), this.#o.delayMs ?? ACK_FLUSH_MS);
  }

  flush(): void {
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
    const sequences = this.#pending;
    this.#pending = [];
    this.#o.flush(sequences);
  }
}
