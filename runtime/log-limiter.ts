/**
 * Repeated warnings, once: the first of a kind is logged at once, the same
 * kind again within `windowMs` is only counted, and the next one logged
 * after the window says how many were left out (`suppressed`). A broker that
 * is down for an hour then costs a line a minute, not one per reconnect.
 */
import type { Logger } from 'pino';

export class LogLimiter {
  readonly #log: Pick<Logger, 'warn'>;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #kinds = new Map<string, { at: number; suppressed: number }>();

  constructor(log: Pick<Logger, 'warn'>, windowMs = 60_000, now: () => number = () => performance.now()) {
    this.#log = log;
    this.#windowMs = windowMs;
    this.#now = now;
  }

  /** Logs `msg` at warn unless the same kind was logged within the window; true when logged. */
  warn(kind: string, fields: Record<string, unknown>, msg: string): boolean {
    const now = this.#now();
    const last = this.#kinds.get(kind);
    if (last && now - last.at < this.#windowMs) {
      last.suppressed += 1;
      return false;
    }
    this.#log.warn({ ...fields, ...(last?.suppressed && { suppressed: last.suppressed }) }, msg);
    this.#kinds.set(kind, { at: now, suppressed: 0 });
    return true;
  }

  /** Forget a kind (the condition ended: the next occurrence is news again). */
  reset(kind: string): void {
    this.#kinds.delete(kind);
  }
}
