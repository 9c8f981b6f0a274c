/**
 * The frame ids this board sent and has not yet had answered: the only ids
 * an answer is accepted for. Anyone able to publish on the answer topic sent
 * 300 answers for ids never sent: 302 hook processes at once and the real
 * answers pushed out of the outbox's bounded store (issue 15, finding 4).
 *
 * Bounded: at most `maxExpected` ids wait for an answer (the oldest sent is
 * forgotten first; its late answer is then refused and counted) and the last
 * `maxAnswered` answered ids are remembered, so a broker's redelivery counts
 * as a duplicate rather than as unexpected. The waiting ids are saved at stop
 * (atomically, next to the outbox) and read at start, so answers for frames
 * acknowledged just before a restart are still accepted after it; a crash
 * loses that list (the frames still queued are sent again and expected anew).
 */
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { isFrameId } from '../../protocol/wire/frame-id.ts';

export type AnswerExpectation = 'expected' | 'duplicate' | 'unexpected';

export interface ExpectedAnswersOptions {
  maxExpected?: number;
  maxAnswered?: number;
  /** Where the waiting ids are kept across a restart; none: memory only. */
  file?: string;
}

export const DEFAULT_MAX_EXPECTED = 10_000;
const DEFAULT_MAX_ANSWERED = 1_000;
/** 37 bytes per id in the saved list, with room to spare; a larger file is not ours and is not read. */
const BYTES_PER_ID = 40;

export class ExpectedAnswers {
  readonly #maxExpected: number;
  readonly #maxAnswered: number;
  readonly #file: string | undefined;
  /** Insertion order is send order: the first key is the oldest. */
  readonly #expected = new Set<string>();
  readonly #answered = new Set<string>();
  #forgotten = 0;

  constructor(options: ExpectedAnswersOptions = {}) {
    this.#maxExpected = options.maxExpected ?? DEFAULT_MAX_EXPECTED;
    this.#maxAnswered = options.maxAnswered ?? DEFAULT_MAX_ANSWERED;
    this.#file = options.file;
  }

  get waiting(): number {
    return this.#expected.size;
  }

  /** Ids dropped unanswered because more than maxExpected were waiting. */
  get forgotten(): number {
    return this.#forgotten;
  }

  /** A frame went out (a resend moves it to the newest end). */
  sent(frameId: string): void {
    if (this.#answered.has(frameId)) return;
    this.#expected.delete(frameId);
    this.#expected.add(frameId);
    while (this.#expected.size > this.#maxExpected) {
      this.#expected.delete(this.#expected.values().next().value!);
      this.#forgotten += 1;
    }
  }

  /** What an answer for `frameId` is; an expected one is answered from now on. */
  take(frameId: string): AnswerExpectation {
    if (this.#expected.delete(frameId)) {
      this.#answered.add(frameId);
      if (this.#answered.size > this.#maxAnswered) this.#answered.delete(this.#answered.values().next().value!);
      return 'expected';
    }
    return this.#answered.has(frameId) ? 'duplicate' : 'unexpected';
  }

  /** Reads the ids saved by the last stop; a missing, oversize or damaged file is an empty list. */
  load(): void {
    if (!this.#file) return;
    try {
      if (statSync(this.#file).size > (this.#maxExpected + 1) * BYTES_PER_ID) return;
      const ids: unknown = JSON.parse(readFileSync(this.#file, 'utf8'));
      if (!Array.isArray(ids)) return;
      for (const id of ids) if (typeof id === 'string' && isFrameId(id)) this.sent(id);
    } catch {
      // No list (first start, or a crash before any stop): only the frames sent from now on are expected.
    }
  }

  /** Saves the waiting ids (write, then rename: a crash leaves the old list or the new one). */
  save(): void {
    if (!this.#file) return;
    const temporary = `${this.#file}.tmp`;
    writeFileSync(temporary, JSON.stringify([...this.#expected]), { mode: 0o640 });
    renameSync(temporary, this.#file);
  }
}
