/**
 * The in-flight window: at most `size` unacknowledged QoS 1 publishes. One
 * without a PUBACK within `timeoutMs` leaves the window (`onTimeout`) and is
 * sent again by the caller: a duplicate at worst, which the cloud
 * deduplicates by frame id. The bytes in flight are what a new frame queues
 * behind on the link (the link estimator's `bytesAhead`).
 */
import type { Clock, Timer } from './clock.ts';

export interface InflightEntry {
  readonly sequence: number;
  readonly bytes: number;
  /** clock.now() when sent. */
  readonly sentAt: number;
  /** Bytes already in flight when it was sent. */
  readonly bytesAhead: number;
}

export interface InflightWindowOptions {
  size: number;
  timeoutMs: number;
  clock: Clock;
  onTimeout(entry: InflightEntry): void;
}

export class InflightWindow {
  readonly #o: InflightWindowOptions;
  readonly #entries = new Map<number, { entry: InflightEntry; timer: Timer }>();
  #bytes = 0;

  constructor(options: InflightWindowOptions) {
    this.#o = options;
  }

  get count(): number {
    return this.#entries.size;
  }

  get room(): number {
    return Math.max(0, this.#o.size - this.#entries.size);
  }

  get bytes(): number {
    return this.#bytes;
  }

  sequences(): IterableIterator<number> {
    return this.#entries.keys();
  }

  /** Takes a slot for a publish about to be written; its timeout starts now. */
  add(sequence: number, bytes: number): InflightEntry {
    this.#drop(sequence);
    const entry: InflightEntry = { sequence, bytes, sentAt: this.#o.clock.now(), bytesAhead: this.#bytes };
    const timer = this.#o.clock.setTimeout(() => {
      if (this.#entries.get(sequence)?.entry !== entry) return;
      this.#drop(sequence);
      this.#o.onTimeout(entry);
    }, this.#o.timeoutMs);
    this.#entries.set(sequence, { entry, timer });
    this.#bytes += bytes;
    return entry;
  }

  /** Its PUBACK came: frees the slot if `entry` still holds it (not after a timeout or a reconnect). */
  settle(entry: InflightEntry): boolean {
    if (this.#entries.get(entry.sequence)?.entry !== entry) return false;
    this.#drop(entry.sequence);
    return true;
  }

  /** The connection is gone: everything unacknowledged is sent again after reconnecting. */
  clear(): void {
    for (const { timer } of this.#entries.values()) this.#o.clock.clearTimeout(timer);
    this.#entries.clear();
    this.#bytes = 0;
  }

  #drop(sequence: number): void {
    const held = this.#entries.get(sequence);
    if (!held) return;
    this.#o.clock.clearTimeout(held.timer);
    this.#entries.delete(sequence);
    this.#bytes -= held.entry.bytes;
  }
}
