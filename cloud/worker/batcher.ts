/**
 * Groups work that can run together (frames of one model) into batches of at
 * most `batchSize`, waiting at most `waitMs` after the first item for more,
 * and runs at most `concurrency` batches at once.
 */
export interface BatcherOptions<T> {
  batchSize: number;
  waitMs: number;
  concurrency: number;
  keyOf(item: T): string;
  run(batch: T[]): Promise<void>;
}

export class Batcher<T> {
  readonly #o: BatcherOptions<T>;
  readonly #open = new Map<string, { items: T[]; timer: NodeJS.Timeout | null }>();
  readonly #ready: T[][] = [];
  readonly #running = new Set<Promise<void>>();

  constructor(options: BatcherOptions<T>) {
    this.#o = options;
  }

  /** Items waiting for a batch or in a running one. */
  get size(): number {
    let n = this.#ready.reduce((sum, batch) => sum + batch.length, 0);
    for (const open of this.#open.values()) n += open.items.length;
    return n;
  }

  add(item: T): void {
    const key = this.#o.keyOf(item);
    let open = this.#open.get(key);
    if (!open) {
      open = { items: [], timer: null };
      this.#open.set(key, open);
    }
    open.items.push(item);
    if (open.items.length >= this.#o.batchSize) this.#close(key);
    else if (!open.timer) open.timer = setTimeout(() => this.#close(key), this.#o.waitMs);
  }

  #close(key: string): void {
    const open = this.#open.get(key);
    if (!open) return;
    if (open.timer) clearTimeout(open.timer);
    this.#open.delete(key);
    this.#ready.push(open.items);
    this.#pump();
  }

  #pump(): void {
    while (this.#running.size < this.#o.concurrency && this.#ready.length > 0) {
      const batch = this.#ready.shift()!;
      const running: Promise<void> = this.#o
        .run(batch)
        .catch(() => undefined)
        .finally(() => {
          this.#running.delete(running);
          this.#pump();
        });
      this.#running.add(running);
    }
  }

  /** Runs everything waiting now, without waiting for fuller batches, and resolves when all is done. */
  async drain(): Promise<void> {
    for (const key of [...this.#open.keys()]) this.#close(key);
    while (this.#running.size > 0) await Promise.all([...this.#running]);
  }
}
