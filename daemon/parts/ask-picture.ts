/**
 * The picture an operator's ask waits for (capture.ts takes it). Invariant:
 * an ask is served by the first image prepared after it (frame production
 * attaches the request there), so until one is prepared the ask is this
 * object's to finish. An attempt that prepares nothing (an image that does
 * not decode, a replay that ends on a corrupt file) takes another picture,
 * up to ASK_ATTEMPTS in all; a camera with nothing new yet (or a file that
 * could not be read) is asked again every EMPTY_RETRY_MS for up to
 * EMPTY_WAIT_MS. When no picture can be taken any more (a finished replay
 * without a good image) or the tries run out, the ask fails at once instead
 * of waiting out its timeout with no frame on the way. Timers come from the
 * injected clock.
 */
import { type Clock, systemClock, type Timer } from '../link/clock.ts';

/** Pictures tried for one ask before it fails (each a new image, or the last good one again). */
export const ASK_ATTEMPTS = 4;
/**
 * How often, and how long, an ask waits for a camera's next image: a live
 * camera runs at camera.fps >= 1, and one being restarted is back within the
 * restart backoff's default ceiling (30 s, stream-source.ts).
 */
export const EMPTY_RETRY_MS = 250;
export const EMPTY_WAIT_MS = 35_000;

export interface AskPictureDeps {
  /** Takes one more picture (the camera's next image, or the last good one again once a replay is over). */
  take(): void;
  /** False when no picture can be taken any more. */
  canTake(): boolean;
  clock?: Clock;
}

interface WaitingAsk {
  attempts: number;
  empties: number;
  failed: () => void;
}

export class AskPicture {
  readonly #deps: AskPictureDeps;
  readonly #clock: Clock;
  #ask: WaitingAsk | null = null;
  #retry: Timer | null = null;

  constructor(deps: AskPictureDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock;
  }

  /** An ask is waiting for its picture. */
  get waiting(): boolean {
    return this.#ask !== null;
  }

  /** Takes the first picture for a new ask; `failed` runs if none can be prepared for it. */
  begin(failed: () => void): void {
    this.cancel();
    this.#ask = { attempts: 1, empties: 0, failed };
    this.#deps.take();
  }

  /** An image was prepared (`served`: the waiting ask has its picture), or an attempt prepared none. */
  prepared(served: boolean): void {
    const ask = this.#ask;
    if (!ask) return;
    if (served) {
      this.cancel();
    } else if (ask.attempts >= ASK_ATTEMPTS || !this.#deps.canTake()) {
      this.#fail(ask);
    } else {
      ask.attempts += 1;
      this.#deps.take();
    }
  }

  /** The camera had nothing new for the waiting ask: asked again shortly, for a while. */
  empty(): void {
    const ask = this.#ask;
    if (!ask || this.#retry) return;
    ask.empties += 1;
    if (ask.empties * EMPTY_RETRY_MS > EMPTY_WAIT_MS) {
      this.#fail(ask);
      return;
    }
    this.#retry = this.#clock.setTimeout(() => {
      this.#retry = null;
      if (this.#ask !== ask) return;
      if (this.#deps.canTake()) this.#deps.take();
      else this.#fail(ask);
    }, EMPTY_RETRY_MS);
  }

  /** Forgets the waiting ask without failing it (served, or capture stopping). */
  cancel(): void {
    if (this.#retry) this.#clock.clearTimeout(this.#retry);
    this.#retry = null;
    this.#ask = null;
  }

  #fail(ask: WaitingAsk): void {
    this.cancel();
    ask.failed();
  }
}
