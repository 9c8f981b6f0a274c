/**
 * Outbox on better-sqlite3. Each enqueue is one transaction (a frame is
 * durable before it can be published); acks are deferred marks the publisher
 * batches, and an acknowledged frame's row awaits its answer (outbox-awaiting.ts). Payload
 * bytes are bounded by the limits; the file by its page cap (outbox-database.ts), whose SQLITE_FULL counts as "full".
 */
import type Database from 'better-sqlite3';
import { OutboxFullError, type DeliveryOrder, type EnqueueResult, type EvictionReason, type FrameIdentity } from './outbox.ts';
import type { Outbox, OutboxLimits, OutboxStats, QueuedFrame, StoredAnswer } from './outbox.ts';
import { OutboxAnswers } from './outbox-answers.ts';
import { EvictedRecord, type EvictedFrame } from './outbox-evicted.ts';
import { dropOldest, expireBefore, type EvictionState, type QueueTotals } from './outbox-eviction.ts';
import { OutboxIdentity } from './outbox-identity.ts';
import { DeferredWrites } from './outbox-deferred.ts';
import { AwaitingAnswers } from './outbox-awaiting.ts';
import { oldestCaptured, peekQueued } from './outbox-queued.ts';
import { openOutboxDatabase, prepareStatements, toFrame, type OutboxStatements, type Synchronous } from './outbox-database.ts';
import { checkpoint, diskLow, evictForSpace } from './outbox-space.ts';

export { OutboxOpenError, type Synchronous } from './outbox-database.ts';

export interface SqliteOutboxOptions {
  path: string;
  limits: OutboxLimits;
  /** Free space the file system must keep: below it the outbox counts as full (drop-oldest evicts, the others refuse; outbox-space.ts). */
  minFreeBytes?: number;
  order?: DeliveryOrder;
  synchronous?: Synchronous;
  /** Acknowledged frames whose answers are still accepted: for how long after the ack, and how many (outbox-awaiting.ts). */
  awaiting?: { windowMs?: number; max?: number };
  onDeferredError?: (error: unknown) => void; // the deferred commit's timer failed (an I/O error): count it; retried, acks kept (outbox-deferred.ts)
}

export class SqliteOutbox implements Outbox {
  readonly #db: Database.Database;
  readonly #limits: OutboxLimits;
  readonly #path: string;
  readonly #minFreeBytes: number;
  readonly #order: DeliveryOrder;
  readonly #identity: OutboxIdentity;
  /** Mirror of the frames table's count and payload bytes (reloaded after a rollback). */
  readonly #totals: QueueTotals = { rows: 0, bytes: 0 };
  readonly #answers: OutboxAnswers;
  readonly #evicted: Record<EvictionReason, number> = { 'drop-oldest': 0, 'drop-newest': 0, ttl: 0 };
  #rejected = 0;
  readonly #statements: OutboxStatements;
  readonly #deferred: DeferredWrites; // acks and attempts ride on the next commit (outbox-deferred.ts)
  readonly #eviction: EvictionState; // what eviction updates, evicted frames' names included (outbox-evicted.ts)
  readonly #awaiting: AwaitingAnswers;
  readonly #floor = { seq: 0 }; // no queued row below it (outbox-queued.ts)

  constructor(options: SqliteOutboxOptions) {
    this.#limits = options.limits;
    this.#path = options.path;
    this.#minFreeBytes = options.minFreeBytes ?? 8 * 1024 * 1024;
    this.#order = options.order ?? 'oldest-first';
    this.#db = openOutboxDatabase(options.path, { maxBytes: options.limits.maxBytes, synchronous: options.synchronous ?? 'full', order: this.#order });
    this.#statements = prepareStatements(this.#db);
    this.#reload();
    this.#identity = new OutboxIdentity(this.#statements);
    this.#awaiting = new AwaitingAnswers(this.#statements, this.#identity, options.awaiting);
    this.#answers = new OutboxAnswers(this.#db, this.#statements, options.limits.maxAnswers, { awaiting: this.#awaiting, identity: this.#identity, totals: this.#totals });
    this.#deferred = new DeferredWrites(this.#db, this.#statements, this.#totals, this.#awaiting, this.#identity, { reload: () => this.#reload(), onTimerError: options.onDeferredError });
    const record = new EvictedRecord(this.#db);
    this.#eviction = { statements: this.#statements, totals: this.#totals, identity: this.#identity, record, floor: this.#floor };
  }

  nextIdentity(): FrameIdentity {
    return this.#identity.next();
  }

  enqueue(frame: Omit<QueuedFrame, 'attempts'>, now = Date.now()): EnqueueResult {
    if (frame.bytes.length > this.#limits.maxBytes) {
      throw new OutboxFullError(`frame of ${frame.bytes.length} bytes exceeds the outbox byte bound ${this.#limits.maxBytes}`);
    }
    const evictedForSpace: Partial<Record<EvictionReason, number>> = {};
    // SQLITE_FULL (the file's page cap, or the disk itself) rolls the transaction back;
    // under drop-oldest, free the oldest frame and try again, otherwise refuse the frame.
    for (let attempt = 0; ; attempt++) {
      try {
        const result = this.#enqueueOnce(frame, now);
        this.#deferred.commit(result.accepted);
        for (const [reason, n] of Object.entries(evictedForSpace)) result.evicted[reason as EvictionReason] = (result.evicted[reason as EvictionReason] ?? 0) + n;
        return result;
      } catch (error) {
        this.#reload(); // the rolled-back transaction may have changed our counters
        if ((error as { code?: string }).code !== 'SQLITE_FULL') throw error;
        if (this.#limits.policy !== 'drop-oldest' || attempt >= 256 || !this.#evictForSpace()) {
          throw new OutboxFullError(`outbox storage is full (database page limit or disk; ${this.#totals.rows} frames, ${this.#totals.bytes} bytes queued): frame ${frame.sequence} refused`);
        }
        evictedForSpace['drop-oldest'] = (evictedForSpace['drop-oldest'] ?? 0) + 1;
      }
    }
  }

  #enqueueOnce(frame: Omit<QueuedFrame, 'attempts'>, now: number): EnqueueResult {
    const size = frame.bytes.length;
    const evicted: Partial<Record<EvictionReason, number>> = {};
    const count = (reason: EvictionReason, n = 1) => {
      evicted[reason] = (evicted[reason] ?? 0) + n;
      this.#countEviction(reason, n);
    };
    const accepted = this.#db.transaction((): boolean => {
      const expired = this.#expire(now);
      if (expired) count('ttl', expired);
      this.#awaiting.evict(now);
      while (this.#totals.rows + 1 > this.#limits.maxRows || this.#totals.bytes + size > this.#limits.maxBytes || this.#diskLow(size)) {
        if (this.#limits.policy === 'drop-oldest') {
          if (!dropOldest(this.#eviction)) break;
          count('drop-oldest');
        } else if (this.#limits.policy === 'drop-newest') {
          count('drop-newest');
          this.#eviction.record.note(frame.sequence, frame.frameId, 'drop-newest', now);
          this.#identity.save();
          return false;
        } else {
          this.#identity.save();
          this.#rejected += 1;
          this.#statements.setMeta.run('rejected', String(this.#rejected));
          return false;
        }
      }
      this.#statements.insert.run(frame.sequence, frame.frameId, frame.capturedAt, Buffer.from(frame.bytes.buffer, frame.bytes.byteOffset, frame.bytes.byteLength));
      this.#floor.seq = Math.min(this.#floor.seq, frame.sequence);
      this.#totals.rows += 1;
      this.#totals.bytes += size;
      return true;
    })();
    if (!accepted && this.#limits.policy === 'reject') {
      throw new OutboxFullError(`outbox full (${this.#fullReason(size)}): frame ${frame.sequence} rejected`);
    }
    return { accepted, evicted };
  }

  /** Frees the oldest frame in a transaction of its own (outbox-space.ts). */
  #evictForSpace(): boolean {
    this.#deferred.commit(); // a checkpoint cannot run inside a transaction
    return evictForSpace(
      this.#db,
      this.#eviction,
      () => this.#countEviction('drop-oldest', 1),
      () => this.#reload(),
    );
  }

  /** Counted in memory and in meta (the counters survive restarts). */
  #countEviction(reason: EvictionReason, n: number): void {
    this.#evicted[reason] += n;
    this.#statements.setMeta.run(`evicted_${reason}`, String(this.#evicted[reason]));
  }

  #diskLow(bytes: number): boolean {
    return diskLow(this.#db, this.#path, this.#minFreeBytes, bytes);
  }

  #fullReason(size: number): string {
    if (this.#diskLow(size)) return `disk: less than ${this.#minFreeBytes} bytes would stay free`;
    return `${this.#totals.rows} frames, ${this.#totals.bytes} bytes; bounds ${this.#limits.maxRows} frames, ${this.#limits.maxBytes} bytes`;
  }

  /** Counters from the database itself, after a transaction was rolled back. */
  #reload(): void {
    const totals = this.#statements.totals.get()!;
    this.#totals.rows = totals.rows;
    this.#totals.bytes = totals.bytes ?? 0;
    for (const reason of Object.keys(this.#evicted) as EvictionReason[]) this.#evicted[reason] = Number(this.#statements.getMeta.get(`evicted_${reason}`)?.value ?? 0);
    this.#rejected = Number(this.#statements.getMeta.get('rejected')?.value ?? 0);
    this.#floor.seq = 0; // a rollback may have made rows queued again below it
    this.#awaiting?.reload(); // these two are unset while the constructor runs: they read the file when made
    this.#eviction?.record.reload();
  }

  #expire(now: number): number {
    return this.#limits.ttlMs <= 0 ? 0 : expireBefore(this.#eviction, now - this.#limits.ttlMs);
  }

  expire(now = Date.now()): number {
    const n = this.#db.transaction(() => this.#expire(now))();
    if (n) this.#countEviction('ttl', n);
    this.#deferred.commit();
    return n;
  }

  peek(limit: number, exclude: ReadonlySet<number> = new Set()): QueuedFrame[] {
    return peekQueued(this.#statements, this.#floor, this.#order, limit, exclude);
  }

  markAttempt(sequence: number): void {
    this.#deferred.markAttempt(sequence);
  }

  ack(sequences: readonly number[]): void {
    this.#deferred.ack(sequences);
  }

  stats(): OutboxStats {
    return {
      rows: this.#totals.rows,
      bytes: this.#totals.bytes,
      oldestCapturedAt: oldestCaptured(this.#statements, this.#floor),
      evicted: { ...this.#evicted },
      rejected: this.#rejected,
      answers: this.#answers.count,
      lastSequence: this.#identity.lastSequence,
    };
  }

  evictions(limit?: number): EvictedFrame[] {
    return this.#eviction.record.list(limit);
  }

  storeAnswer(frameId: string, payload: string, receivedAt = Date.now()): boolean {
    try {
      const stored = this.#answers.store(frameId, payload, receivedAt); // its frame's row goes with it
      this.#deferred.commit(); // an answer is durable before its PUBACK
      return stored;
    } catch (error) {
      this.#reload(); // the rolled-back transaction may have changed our counters
      throw error;
    }
  }

  isAwaitingAnswer(frameId: string, now = Date.now()): boolean {
    return this.#answers.awaits(frameId, now);
  }

  answers(options: { limit?: number; afterReceivedAt?: number } = {}): StoredAnswer[] {
    return this.#answers.list(options);
  }

  *all(): IterableIterator<QueuedFrame> {
    for (const row of this.#statements.all.iterate()) yield toFrame(row);
  }

  purge(): number {
    this.#identity.save();
    const removed = this.#statements.purge.run().changes;
    this.#totals.rows = 0;
    this.#totals.bytes = 0;
    this.#deferred.commit();
    return removed;
  }

  close(): void {
    if (!this.#db.open) return;
    this.#deferred.commit();
    checkpoint(this.#db); // the next start then reads one file
    this.#db.close();
  }
}
