/**
 * Publish budget for metered links: a token bucket for bytes per second (one
 * second of burst) and a counter for bytes per UTC day. It only ever delays a
 * publish; it never drops one.
 */
export class ByteBudget {
  readonly #perSecond: number | undefined;
  readonly #perDay: number | undefined;
  #tokens: number;
  #refilledAt: number;
  #day: number;
  #usedToday = 0;
  readonly #now: () => number;

  constructor(perSecond: number | undefined, perDay: number | undefined, now: () => number = Date.now) {
    this.#perSecond = perSecond;
    this.#perDay = perDay;
    this.#now = now;
    this.#tokens = perSecond ?? 0;
    this.#refilledAt = now();
    this.#day = Math.floor(this.#refilledAt / 86_400_000);
  }

  /** Milliseconds to wait before `bytes` may be sent; 0 means now. */
  delayFor(bytes: number): number {
    const now = this.#now();
    this.#rollDay(now);
    if (this.#perDay !== undefined && this.#usedToday + bytes > this.#perDay) {
      return (this.#day + 1) * 86_400_000 - now;
    }
    if (this.#perSecond === undefined) return 0;
    this.#refill(now);
    // A frame larger than the burst may go once the bucket is full.
    const need = Math.min(bytes, this.#perSecond);
    return this.#tokens >= need ? 0 : Math.ceil(((need - this.#tokens) / this.#perSecond) * 1000);
  }

  spend(bytes: number): void {
    const now = this.#now();
    this.#rollDay(now);
    this.#usedToday += bytes;
    if (this.#perSecond !== undefined) {
      this.#refill(now);
      this.#tokens -= bytes;
    }
  }

  get usedToday(): number {
    return this.#usedToday;
  }

  #refill(now: number): void {
    this.#tokens = Math.min(this.#perSecond!, this.#tokens + ((now - this.#refilledAt) / 1000) * this.#perSecond!);
    this.#refilledAt = now;
  }

  #rollDay(now: number): void {
    const day = Math.floor(now / 86_400_000);
    if (day !== this.#day) {
      this.#day = day;
      this.#usedToday = 0;
    }
  }
}
