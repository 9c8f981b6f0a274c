/**
 * Republishes the retained status document every `status.intervalSeconds`,
 * so its counters (queue, captures, link) are never older than that; changes
 * (commands, asks, answers to asks, previews) publish at once besides. Time
 * comes from the injected clock (tests run on mocked time).
 */
import type { Part } from '../controller.ts';
import { type Clock, systemClock, type Timer } from '../link/clock.ts';

export interface StatusRefreshDeps {
  intervalMs: number;
  /** Publishes the document; does nothing while disconnected (the next connect publishes it). */
  publish: () => void;
  clock?: Clock;
}

export class StatusRefresh implements Part {
  readonly #deps: StatusRefreshDeps;
  readonly #clock: Clock;
  #timer: Timer | null = null;
  #running = false;

  constructor(deps: StatusRefreshDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock;
  }

  start(): void {
    this.#running = true;
    this.#arm();
  }

  stop(): void {
    this.#running = false;
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #arm(): void {
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      if (!this.#running) return;
      this.#deps.publish();
      this.#arm();
    }, this.#deps.intervalMs);
    (this.#timer as { unref?: () => void }).unref?.();
  }
}
