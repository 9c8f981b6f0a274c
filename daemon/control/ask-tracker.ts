/**
 * The operator's pending ask (protocol/commands.ts, `ask`): at most one per
 * device. `begin` takes a new ask or says why not (one is pending); the ask
 * ends when an answer carrying its request id arrives, when its frame could
 * not be made, or after `timeoutMs` (reported in the status as `lastAsk`).
 * Time comes from the injected clock, so the timeout is tested on mocked time.
 */
import type { AnswerEnvelope } from '../../protocol/answer.ts';
import type { LastAsk, PendingAsk } from '../../protocol/status.ts';
import { type Clock, systemClock, type Timer } from '../link/clock.ts';

export interface AskTrackerDeps {
  timeoutMs: number;
  /** Something the status shows changed (an ask began or ended). */
  changed: () => void;
  clock?: Clock;
  /** Wall time for the status's ISO times. */
  now?: () => Date;
}

export class AskTracker {
  readonly #deps: AskTrackerDeps;
  readonly #clock: Clock;
  #pending: PendingAsk | null = null;
  #last: LastAsk | undefined;
  #timer: Timer | null = null;

  constructor(deps: AskTrackerDeps) {
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock;
  }

  get pending(): PendingAsk | null {
    return this.#pending;
  }

  get last(): LastAsk | undefined {
    return this.#last;
  }

  /** Starts an ask; the reason it is refused otherwise (nothing changes then). */
  begin(id: string, prompt: string): string | null {
    if (this.#pending) return `an ask is pending (id ${this.#pending.id})`;
    this.#pending = { id, prompt, since: this.#now() };
    this.#timer = this.#clock.setTimeout(() => this.#end('timed-out'), this.#deps.timeoutMs);
    return null;
  }

  /** An answer arrived: true when it was the pending ask's (which then ends). */
  answered(answer: AnswerEnvelope): boolean {
    if (!this.#pending || !answer.requestId || answer.requestId !== this.#pending.id) return false;
    this.#end(answer.error ? 'failed' : 'answered');
    return true;
  }

  /** The ask's frame could not be made (no image, encoder failure): it ends now. */
  failed(id: string): void {
    if (this.#pending?.id === id) this.#end('failed');
  }

  stop(): void {
    if (this.#timer) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #end(outcome: LastAsk['outcome']): void {
    const pending = this.#pending;
    if (!pending) return;
    this.stop();
    this.#pending = null;
    this.#last = { id: pending.id, outcome, at: this.#now() };
    this.#deps.changed();
  }

  #now(): string {
    return (this.#deps.now?.() ?? new Date()).toISOString();
  }
}
