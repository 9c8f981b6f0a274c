/**
 * Starts and stops the daemon's parts. The rule: parts start one after the
 * other in list order, each awaited before the next, and stop in the
 * reverse order, so a part only ever runs while everything listed before it
 * does (a part may use what comes earlier in the list, never what comes
 * later). When a start fails, the parts already started are stopped (last
 * first) and the error is passed on. stop() during start waits for the part
 * being started, starts no further part, then stops the started ones. A
 * failing stop is logged and the remaining parts still stop.
 */
import type { Logger } from 'pino';

export interface Part {
  start?(): void | Promise<void>;
  stop?(): void | Promise<void>;
}

export interface NamedPart {
  name: string;
  part: Part;
}

export class PartController {
  readonly #parts: readonly NamedPart[];
  readonly #log: Pick<Logger, 'error'>;
  readonly #started: NamedPart[] = [];
  #starting: Promise<void> | null = null;
  #stopRequested = false;
  #stopped: Promise<void> | null = null;

  constructor(parts: readonly NamedPart[], log: Pick<Logger, 'error'>) {
    this.#parts = parts;
    this.#log = log;
  }

  /** Names of the running parts, in start order. */
  get running(): string[] {
    return this.#started.map((p) => p.name);
  }

  async start(): Promise<void> {
    for (const entry of this.#parts) {
      if (this.#stopRequested) return;
      this.#starting = (async () => {
        await entry.part.start?.();
        this.#started.push(entry);
      })();
      try {
        await this.#starting;
      } catch (error) {
        this.#starting = null;
        await this.stop();
        throw error;
      } finally {
        this.#starting = null;
      }
    }
  }

  /** Stops what was started, last first. Safe to call twice (the second waits for the first). */
  stop(): Promise<void> {
    this.#stopRequested = true;
    this.#stopped ??= (async () => {
      await this.#starting?.catch(() => undefined);
      for (const entry of this.#started.splice(0).reverse()) {
        try {
          await entry.part.stop?.();
        } catch (error) {
          this.#log.error({ part: entry.name, err: (error as Error).message ?? String(error) }, 'part failed to stop');
        }
      }
    })();
    return this.#stopped;
  }
}
