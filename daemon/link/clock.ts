/**
 * Time for the link's pieces, injected so that their tests run on mocked
 * time (node:test's mock.timers) instead of sleeping. The system clock looks
 * the globals up at each call, so timers mocked after import are used too.
 */
export type Timer = ReturnType<typeof setTimeout>;

export interface Clock {
  /** Monotonic milliseconds, for durations (performance.now on the system clock). */
  now(): number;
  /** Wall-clock milliseconds since the epoch, for calendar limits (the byte budget's UTC day). */
  wallNow(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(timer: Timer): void;
}

/** setTimeout's limit: a longer delay would fire at once. */
export const MAX_TIMER_MS = 2_147_000_000;

export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, Math.min(ms, MAX_TIMER_MS)),
  clearTimeout: (timer) => clearTimeout(timer),
};
