/**
 * The outbox: every accepted frame is stored here before anything is
 * published, and leaves the queue only when the broker has acknowledged it;
 * its id is then kept (durably) until its answer comes or the answer window
 * bounds it, so the answers accepted are those of the board's own frames,
 * even after a crash. Answers that come back are kept here too. Implementations must pass
 * test/daemon/outbox-conformance.ts.
 */
export type FullPolicy = 'drop-oldest' | 'drop-newest' | 'reject';
export type DeliveryOrder = 'oldest-first' | 'newest-first';

export interface OutboxLimits {
  maxRows: number;
  maxBytes: number;
  /** Frames older than this (by capture time) are evicted; 0 keeps them forever. */
  ttlMs: number;
  policy: FullPolicy;
  /** Answers kept; the oldest go first. */
  maxAnswers: number;
}

export interface FrameIdentity {
  sequence: number;
  frameId: string;
}

export interface QueuedFrame extends FrameIdentity {
  capturedAt: number;
  bytes: Uint8Array;
  attempts: number;
}

export type EvictionReason = 'drop-oldest' | 'drop-newest' | 'ttl';

export interface EnqueueResult {
  /** False when the policy dropped or rejected the new frame itself. */
  accepted: boolean;
  /** Frames removed to make room or because they expired, by reason. */
  evicted: Partial<Record<EvictionReason, number>>;
}

export interface OutboxStats {
  rows: number;
  bytes: number;
  /** Capture time of the oldest frame by sequence; null when empty. */
  oldestCapturedAt: number | null;
  evicted: Record<EvictionReason, number>;
  rejected: number;
  answers: number;
  lastSequence: number;
}

export interface StoredAnswer {
  frameId: string;
  receivedAt: number;
  payload: string;
}

export class OutboxFullError extends Error {
  override readonly name = 'OutboxFullError';
}

export interface Outbox {
  /** Sequence number and frame id for the next frame; never reused, even across restarts. */
  nextIdentity(): FrameIdentity;
  enqueue(frame: Omit<QueuedFrame, 'attempts'>, now?: number): EnqueueResult;
  /** Up to `limit` frames not in `exclude`, in the configured delivery order. */
  peek(limit: number, exclude?: ReadonlySet<number>): QueuedFrame[];
  /** Counts a failed delivery attempt (no PUBACK in time). */
  markAttempt(sequence: number): void;
  /** Acknowledged by the broker: out of the queue (peek, stats, all), awaiting its answer. Unknown sequences are ignored. */
  ack(sequences: readonly number[]): void;
  /** Evict expired frames now; returns how many. */
  expire(now?: number): number;
  stats(): OutboxStats;
  /** The most recently evicted frames by name, newest first (a bounded record; see outbox-evicted.ts). */
  evictions(limit?: number): Array<FrameIdentity & { reason: EvictionReason; evictedAt: number }>;
  /** Stores an answer once per frame id; false for a duplicate. Its frame is no longer awaiting, nor queued. */
  storeAnswer(frameId: string, payload: string, receivedAt?: number): boolean;
  /** True for a frame id still queued, or acknowledged and awaiting its answer (within the answer window, bounded); false once answered or never stored. */
  isAwaitingAnswer(frameId: string, now?: number): boolean;
  answers(options?: { limit?: number; afterReceivedAt?: number }): StoredAnswer[];
  /** All queued frames, oldest first, for export and replay. */
  all(): IterableIterator<QueuedFrame>;
  purge(): number;
  close(): void;
}
