/**
 * What the link can do right now, learnt from the traffic itself: the round
 * trip from MQTT pings (2-byte PINGREQ/PINGRESP, so transfer time is nil) and
 * the delivered rate from publishes (time from PUBLISH to PUBACK minus the
 * round trip is the time the link spent moving the bytes).
 *
 * Windowed minimum for the round trip, as TCP does: a ping that queued behind
 * a frame only looks slower. Windowed median for the rate: robust to one
 * frame that waited on a retransmission. A small frame on a fast link moves
 * in well under a millisecond, so its sample is a lower bound (the transfer
 * time is floored at 1 ms); that is enough to tell a LAN from a BLE bridge.
 */
const WINDOW = 16;
const MIN_TRANSFER_MS = 1;

export interface LinkEstimate {
  /** Round trip in ms; undefined until the first ping. */
  rttMs: number | undefined;
  /** Delivered bytes per second; undefined until the first publish. */
  bytesPerSecond: number | undefined;
  samples: number;
}

export class LinkEstimator {
  readonly #rtts: number[] = [];
  /** Raw publish samples: their rates are worked out with the newest round trip, which may have improved since. */
  readonly #publishes: Array<{ bytes: number; latencyMs: number }> = [];
  #samples = 0;

  /** A round trip measured with nothing in the way (a ping). */
  observeRtt(ms: number): void {
    if (!(ms >= 0 && Number.isFinite(ms))) return;
    push(this.#rtts, ms);
  }

  /**
   * One PUBACK: `bytes` of this message plus `bytesAhead` still unacknowledged
   * when it was sent had to cross the link in `latencyMs` (one round trip included).
   */
  observePublish(bytes: number, latencyMs: number, bytesAhead = 0): void {
    if (!(bytes > 0 && latencyMs >= 0 && Number.isFinite(latencyMs))) return;
    this.#samples += 1;
    push(this.#publishes, { bytes: bytes + bytesAhead, latencyMs });
  }

  get rttMs(): number | undefined {
    return this.#rtts.length === 0 ? undefined : Math.min(...this.#rtts);
  }

  /** Undefined until a ping has measured the round trip: without it the transfer time cannot be told apart. */
  get bytesPerSecond(): number | undefined {
    const rttMs = this.rttMs;
    if (this.#publishes.length === 0 || rttMs === undefined) return undefined;
    const rates = this.#publishes.map((p) => (p.bytes * 1000) / Math.max(p.latencyMs - rttMs, MIN_TRANSFER_MS)).sort((a, b) => a - b);
    return rates[Math.floor(rates.length / 2)];
  }

  get estimate(): LinkEstimate {
    return { rttMs: this.rttMs, bytesPerSecond: this.bytesPerSecond, samples: this.#samples };
  }

  /** After a reconnect the path may be another one (cellular handover, a new bridge). */
  reset(): void {
    this.#rtts.length = 0;
    this.#publishes.length = 0;
  }
}

function push<T>(window: T[], value: T): void {
  window.push(value);
  if (window.length > WINDOW) window.shift();
}
