/**
 * Acknowledged frames leave the outbox in batches: deleting them a few ms
 * late is safe (a crash only means a duplicate, which the cloud deduplicates)
 * and turns a burst of PUBACKs into one SQLite transaction. Until the flush
 * the frames are still in the outbox, so the sender must skip `pending`.
 * A flush that fails (SQLITE_BUSY, an I/O error: store-errors.ts counts it)
 * keeps its frames pending and is tried again after ACK_RETRY_MS: an ack is
 * never dropped, and the frames are not sent again meanwhile.
 */
import type { Clock, Timer } from './clock.ts';
import type { StoreErrors } from './store-errors.ts';

export const ACK_FLUSH_MS = 20;
/**
 * After a failed flush: SQLITE_BUSY comes only after SQLite's busy timeout (5 s, the event loop
 * blocked), so the next try leaves the daemon a second of service first.
 */
export const ACK_RETRY_MS = 1000;

export interface AckBatchOptions {
  clock: Clock;
  delayMs?: number;
  /** Removes the frames from the outbox, in one transaction. */
  flush(sequences: number[]): void;
  /** Counts and logs failed flushes; without it a failure throws (after the frames are put back). */
  errors?: StoreErrors;
}

export class AckBatch {
  readonly #o: AckBatchOptions;
  /** Shared with the publisher's other timer-driven writes (attempt counts). */
  get errors(): StoreErrors | undefined {
    return this.#o.errors;
  }
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

  /** true when the pending frames left the outbox (or none were pending); `final` (at stop): no retry is scheduled. */
  flush(final = false): boolean {
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#pending.length === 0) return true;
    const sequences = this.#pending;
    this.#pending = [];
    const run = () => this.#o.flush(sequences);
    let done = false;
    try {
      if (this.#o.errors) done = this.#o.errors.guard('ack', run);
      else {
        run();
        done = true;
      }
    } finally {
      if (!done) {
        // Put back in front (acks added meanwhile stay after them) and try again on the next tick.
        this.#pending = [...sequences, ...this.#pending];
        if (!final) this.#timer ??= this.#o.clock.setTimeout(() => this.flush(), Math.max(this.#o.delayMs ?? ACK_FLUSH_MS, ACK_RETRY_MS));
      }
    }
    return done;
  }
}
