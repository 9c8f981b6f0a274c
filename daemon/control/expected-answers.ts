/**
 * The frame ids this board sent and has not yet had answered: the only ids
 * an answer is accepted for. Anyone able to publish on the answer topic sent
 * 300 answers for ids never sent: 302 hook processes at once and the real
 * answers pushed out of the outbox's bounded store (issue 15, finding 4).
 *
 * Two sources. The outbox (`held`) is the durable one: a frame's row stays
 * there, queued and then acknowledged-awaiting, until its answer is stored or
 * the answer window bounds it (outbox/outbox-awaiting.ts), so after a crash,
 * which runs no stop hook, answers to frames the broker had acknowledged are
 * still accepted (the chaos soak lost 132 of 304 frames of a SIGKILLed edge
 * when this list was a file saved at stop). In memory, bounded: ids sent since
 * start (at most `maxExpected`, the oldest forgotten first), which also covers
 * a frame evicted from the outbox while its answer was on the way, and the
 * last `maxAnswered` answered ids, so a broker's redelivery counts as a
 * duplicate rather than as unexpected.
 */
export type AnswerExpectation = 'expected' | 'duplicate' | 'unexpected';

export interface ExpectedAnswersOptions {
  maxExpected?: number;
  maxAnswered?: number;
  /** True while the outbox holds a row for the frame id (queued or awaiting its answer); none: memory only. */
  held?: (frameId: string) => boolean;
}

export const DEFAULT_MAX_EXPECTED = 10_000;
const DEFAULT_MAX_ANSWERED = 1_000;

export class ExpectedAnswers {
  readonly #maxExpected: number;
  readonly #maxAnswered: number;
  readonly #held: (frameId: string) => boolean;
  /** Insertion order is send order: the first key is the oldest. */
  readonly #expected = new Set<string>();
  readonly #answered = new Set<string>();
  #forgotten = 0;

  constructor(options: ExpectedAnswersOptions = {}) {
    this.#maxExpected = options.maxExpected ?? DEFAULT_MAX_EXPECTED;
    this.#maxAnswered = options.maxAnswered ?? DEFAULT_MAX_ANSWERED;
    this.#held = options.held ?? (() => false);
  }

  get waiting(): number {
    return this.#expected.size;
  }

  /** Ids dropped from memory unanswered because more than maxExpected were waiting (the outbox may still hold them). */
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

  /** What an answer for `frameId` would be, changing nothing (the answer is stored first, then `answered`). */
  check(frameId: string): AnswerExpectation {
    if (this.#answered.has(frameId)) return 'duplicate';
    return this.#expected.has(frameId) || this.#held(frameId) ? 'expected' : 'unexpected';
  }

  /** What an answer for `frameId` is; an expected one is answered from now on. */
  take(frameId: string): AnswerExpectation {
    const expectation = this.check(frameId);
    if (expectation === 'expected') this.answered(frameId);
    return expectation;
  }

  /** The answer for `frameId` is stored: later copies are duplicates. */
  answered(frameId: string): void {
    this.#expected.delete(frameId);
    this.#answered.add(frameId);
    if (this.#answered.size > this.#maxAnswered) this.#answered.delete(this.#answered.values().next().value!);
  }
}
