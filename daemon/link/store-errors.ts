/**
 * Outbox writes that run from timers (the ack flush, an attempt count, the
 * deferred commit) can fail: SQLITE_BUSY while another process holds the
 * file's write lock, an I/O error. Thrown from a timer callback, that would
 * end the daemon; instead each failure is counted (`count`, a metric), logged
 * once per burst (the first failure; the next after a success is news again),
 * and the caller retries what must not be lost (acks) on its next tick.
 */
import type { Logger } from 'pino';
import { LogLimiter } from '../../runtime/log-limiter.ts';

export type StoreWrite = 'ack' | 'attempt' | 'commit';

export class StoreErrors {
  readonly #limiter: LogLimiter;
  readonly #count: (write: StoreWrite) => void;
  readonly #failing = new Set<StoreWrite>();

  constructor(log: Pick<Logger, 'warn'>, count: (write: StoreWrite) => void, now: () => number = () => performance.now()) {
    this.#limiter = new LogLimiter(log, 60_000, now);
    this.#count = count;
  }

  /** A write that threw: counted, logged once per burst. */
  failed(write: StoreWrite, error: unknown): void {
    this.#count(write);
    this.#failing.add(write);
    this.#limiter.warn(write, { write, err: (error as Error).message }, 'outbox write failed; retried on the next tick, the daemon keeps serving');
  }

  /** Runs `write`; false (counted, logged once per burst) when it threw. */
  guard(write: StoreWrite, run: () => void): boolean {
    try {
      run();
    } catch (error) {
      this.failed(write, error);
      return false;
    }
    if (this.#failing.delete(write)) this.#limiter.reset(write);
    return true;
  }
}
