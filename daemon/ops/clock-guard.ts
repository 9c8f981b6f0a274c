/**
 * Boards without a real-time clock boot in 1970 until NTP (or the modem)
 * sets the time. Frames captured then still go out, in sequence order, with
 * the "clock unreliable" flag set so the cloud does not trust their capture
 * time; one warning is logged when it happens and one line when it is over.
 */
import type { Logger } from 'pino';

export class ClockGuard {
  readonly #notBefore: number;
  readonly #now: () => number;
  readonly #log: Logger;
  #wasUnreliable = false;

  constructor(notBeforeMs: number, log: Logger, now: () => number = Date.now) {
    this.#notBefore = notBeforeMs;
    this.#log = log;
    this.#now = now;
  }

  /** True while the wall clock reads earlier than the build time. */
  unreliable(): boolean {
    const now = this.#now();
    const bad = now < this.#notBefore;
    if (bad && !this.#wasUnreliable) {
      this.#log.warn(
        { clock: new Date(now).toISOString(), notBefore: new Date(this.#notBefore).toISOString() },
        'the system clock is earlier than this build: frames are marked "clock unreliable" until it is set (NTP, RTC); TLS may fail meanwhile',
      );
    } else if (!bad && this.#wasUnreliable) {
      this.#log.info({ clock: new Date(now).toISOString() }, 'the system clock is plausible again');
    }
    this.#wasUnreliable = bad;
    return bad;
  }
}
