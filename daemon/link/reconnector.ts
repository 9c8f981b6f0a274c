/**
 * Reconnecting with exponential backoff and full jitter (profiles.ts's
 * backoffDelay): mqtt.js alone retries at a fixed period, which puts every
 * board in lockstep after a broker outage. At most one reconnect is scheduled
 * at a time; a successful connect starts the ladder again from the bottom.
 */
import type { Clock, Timer } from './clock.ts';
import { backoffDelay } from './profiles.ts';

export interface ReconnectorOptions {
  initialMs: number;
  maxMs: number;
  clock: Clock;
  /** Uniform in [0, 1): the jitter. */
  random?: () => number;
  /** Called when the delay has passed. */
  reconnect(): void;
}

export class Reconnector {
  readonly #o: ReconnectorOptions;
  #attempt = 0;
  #timer: Timer | null = null;
  #stopped = false;
  /** Reconnects started so far. */
  count = 0;

  constructor(options: ReconnectorOptions) {
    this.#o = options;
  }

  get scheduled(): boolean {
    return this.#timer !== null;
  }

  /** Connected: the next loss waits the shortest delay again. */
  connected(): void {
    this.#attempt = 0;
  }

  /** Schedules one reconnect; returns its delay, or null when one is already scheduled or we are stopped. */
  schedule(): number | null {
    if (this.#stopped || this.#timer) return null;
    const delay = backoffDelay(this.#attempt++, this.#o.initialMs, this.#o.maxMs, this.#o.random);
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = null;
      if (this.#stopped) return;
      this.count += 1;
      this.#o.reconnect();
    }, delay);
    return delay;
  }

  /** The attempt number of the next delay (0 after a connect). */
  get attempt(): number {
    return this.#attempt;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }
}
