/**
 * systemd readiness and the watchdog, as a part. Listed last: READY=1 goes
 * out once everything before it runs (model and queue open; being offline is
 * normal for a board, so the broker is not waited for). Stopping it first
 * sends STOPPING=1, after which systemd no longer expects watchdog pings.
 *
 * Healthy means capture keeps making progress (an image prepared, a frame
 * queued or acknowledged) unless it is paused or finished: a wedged loop
 * stops the pings and systemd restarts the daemon. Every frame failing is
 * not progress either.
 */
import type { SystemdNotifier } from '../../runtime/systemd.ts';
import type { Part } from '../controller.ts';

/** When the pipeline last moved; marked by the parts a frame passes through. */
export class Progress {
  readonly #now: () => number;
  #last: number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
    this.#last = now();
  }

  mark(): void {
    this.#last = this.#now();
  }

  get idleMs(): number {
    return this.#now() - this.#last;
  }
}

export interface WatchdogDeps {
  notifier: Pick<SystemdNotifier, 'ready' | 'startWatchdog' | 'stopping' | 'stop'>;
  progress: Progress;
  /** Paused or finished: no progress is expected. */
  resting: () => boolean;
  intervalMs: () => number;
  /** systemd's status line at READY=1. */
  readyStatus: () => string;
}

/** Progress may pause this long (and at least five capture intervals) before the daemon counts as wedged. */
export const STALL_MS = 60_000;

export class Watchdog implements Part {
  readonly #deps: WatchdogDeps;

  constructor(deps: WatchdogDeps) {
    this.#deps = deps;
  }

  healthy(): boolean {
    const { resting, progress, intervalMs } = this.#deps;
    return resting() || progress.idleMs < Math.max(STALL_MS, intervalMs() * 5);
  }

  start(): void {
    this.#deps.notifier.ready(this.#deps.readyStatus());
    this.#deps.notifier.startWatchdog(() => this.healthy());
  }

  stop(): void {
    this.#deps.notifier.stopping();
    this.#deps.notifier.stop();
  }
}
