/**
 * The sequence number and frame id of the next frame, never reused, even
 * across restarts: the newest identity is the newest stored row's or, once
 * that row is gone, the one written to meta when it was removed.
 */
import { FrameIdGenerator } from '../../protocol/wire/frame-id.ts';
import type { OutboxStatements } from './outbox-database.ts';
import type { FrameIdentity } from './outbox.ts';

export class OutboxIdentity {
  readonly #statements: OutboxStatements;
  readonly #ids: FrameIdGenerator;
  #lastSequence: number;
  #lastFrameId: string | null;

  constructor(statements: OutboxStatements) {
    this.#statements = statements;
    const newest = statements.newest.get();
    const metaSequence = Number(statements.getMeta.get('last_sequence')?.value ?? 0);
    const useRow = newest !== undefined && newest.seq > metaSequence;
    this.#lastSequence = useRow ? newest.seq : metaSequence;
    this.#lastFrameId = useRow ? newest.frame_id : (statements.getMeta.get('last_frame_id')?.value ?? null);
    this.#ids = new FrameIdGenerator(this.#lastFrameId ? { after: this.#lastFrameId } : {});
  }

  get lastSequence(): number {
    return this.#lastSequence;
  }

  next(): FrameIdentity {
    this.#lastSequence += 1;
    this.#lastFrameId = this.#ids.next();
    return { sequence: this.#lastSequence, frameId: this.#lastFrameId };
  }

  /**
   * Persists the newest identity issued. Needed only when no stored row holds it any
   * more (it was acknowledged, evicted or never stored), so it is written with
   * deletions, not with every insert: one page less per frame on an SD card.
   */
  save(): void {
    this.#statements.setMeta.run('last_sequence', String(this.#lastSequence));
    if (this.#lastFrameId) this.#statements.setMeta.run('last_frame_id', this.#lastFrameId);
  }
}
