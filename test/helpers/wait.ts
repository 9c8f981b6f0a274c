/**
 * The suite's one way to wait: poll a condition (or a probe that returns a
 * value) until it holds, instead of sleeping a fixed time and hoping. Fails
 * naming what was awaited, with the last value seen, after the timeout.
 */
export interface WaitOptions {
  /** What is awaited, for the failure message. */
  what: string;
  timeoutMs?: number;
  /** Between probes; small, because a probe is cheap and a test waits for nothing longer than it must. */
  intervalMs?: number;
}

type Found<T> = Exclude<T, false | null | undefined>;

/** Probes until it returns something other than false, null or undefined, and returns that (a boolean condition, or a value). */
export async function waitFor<T>(probe: () => T | Promise<T>, options: WaitOptions): Promise<Found<T>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== false && value !== null && value !== undefined) return value as Found<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${options.what} (last: ${String(value)})`);
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 20));
  }
}

/** waitFor for a boolean condition, in the positional form older tests use. */
export async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  await waitFor(condition, { timeoutMs, what });
}
