/**
 * Round-trip probes: a 2-byte PINGREQ whose PINGRESP is a round trip with no
 * transfer time in it, unless it queued behind a frame (the estimator keeps
 * the smallest). One at connect, one a second later (the first often shares
 * the link with the backlog), then every `intervalMs` (0: no more).
 *
 * Timed from the write of the PINGREQ, not from the request to send it:
 * mqtt.js holds packets back while it replays its store after a connect.
 * At most one ping is outstanding; a lost connection forgets it.
 */
import type { Clock, Timer } from './clock.ts';
import type { LinkEstimator } from './link-estimator.ts';

export const SECOND_PROBE_MS = 1000;

export interface LinkProbeOptions {
  estimator: LinkEstimator;
  clock: Clock;
  intervalMs: number;
  /** Asks the connection to send a PINGREQ. */
  sendPing(): void;
}

export class LinkProbe {
  readonly #o: LinkProbeOptions;
  #sentAt: number | null = null;
  #timer: Timer | null = null;
  #running = false;

  constructor(options: LinkProbeOptions) {
    this.#o = options;
  }

  /** Connected: probe now and on the schedule. */
  start(): void {
    this.stop();
    this.#running = true;
    this.#probe(0);
  }

  /** Disconnected or stopping: no timer left, no ping outstanding. */
  stop(): void {
    this.#running = false;
    this.#sentAt = null;
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** Every packet written to the socket ('packetsend'). */
  packetSent(cmd: string): void {
    if (cmd === 'pingreq' && this.#sentAt === null) this.#sentAt = this.#o.clock.now();
  }

  /** Every packet read from the socket ('packetreceive'). */
  packetReceived(cmd: string): void {
    if (cmd !== 'pingresp' || this.#sentAt === null) return;
    this.#o.estimator.observeRtt(this.#o.clock.now() - this.#sentAt);
    this.#sentAt = null;
  }

  #probe(count: number): void {
    this.#timer = null;
    if (!this.#running) return;
    if (this.#sentAt === null) this.#o.sendPing();
    const interval = count === 0 ? SECOND_PROBE_MS : this.#o.intervalMs;
    if (interval > 0) this.#timer = this.#o.clock.setTimeout(() => this.#probe(count + 1), interval);
  }
}
