/**
 * Answers arriving on <prefix>/<device>/answer: validated against the
 * envelope's schema, accepted only for a frame id this board sent and has
 * not yet had answered (control/expected-answers.ts: anyone who can publish
 * on the topic could otherwise flood the hook and push real answers out of
 * the store; the outbox keeps the ids awaiting answers durably, so a crash
 * loses none), stored once per frame id, then handed to the integrator's hook
 * (answers.jsonlFile / answers.command). Others are counted
 * (`unexpected`) and dropped. The publisher acknowledges the message only
 * after `receive` returns, so storing is synchronous. Bad input is counted and thrown as AnswerError (the publisher
 * logs it and acknowledges, so it never comes back).
 */
import type { Logger } from 'pino';
import { AnswerError, parseAnswer, type AnswerEnvelope } from '../../protocol/answer.ts';
import type { ExpectedAnswers } from '../control/expected-answers.ts';
import type { EdgeMetrics } from '../ops/metrics.ts';
import { printable } from '../../runtime/printable.ts';

export interface AnswerInboxDeps {
  deviceId: string;
  /** Stores the answer's JSON under its frame id; false when one is already stored. */
  store: (frameId: string, json: string) => boolean;
  /** The ids sent and not yet answered; the publisher adds to it as frames go out. */
  expected: ExpectedAnswers;
  metrics: Pick<EdgeMetrics, 'answers'>;
  log: Pick<Logger, 'debug' | 'info' | 'warn'>;
  /** After storing: the integrator's hook. */
  hook: (answer: AnswerEnvelope) => void;
}

export class AnswerInbox {
  readonly #deps: AnswerInboxDeps;

  constructor(deps: AnswerInboxDeps) {
    this.#deps = deps;
  }

  receive(payload: Uint8Array): void {
    const { deviceId, metrics, log } = this.#deps;
    let answer: AnswerEnvelope;
    try {
      answer = parseAnswer(payload);
    } catch (error) {
      metrics.answers.inc({ outcome: 'invalid' });
      throw error instanceof AnswerError ? error : new AnswerError(String(error));
    }
    if (answer.device !== deviceId) {
      metrics.answers.inc({ outcome: 'invalid' });
      throw new AnswerError(`answer for device ${answer.device} arrived on ${deviceId}'s topic`);
    }
    if (answer.frameId === null) {
      // The worker could not read some frame of ours (corrupted in transit): nothing to file it under.
      metrics.answers.inc({ outcome: 'unreadable-frame' });
      log.warn({ error: answer.error && printable(`${answer.error.code}: ${answer.error.message}`) }, 'the cloud could not read a frame from this device');
      return;
    }
    const expectation = this.#deps.expected.check(answer.frameId);
    if (expectation !== 'expected') {
      // Not one of ours, or answered already: nothing stored, no hook run (a flood costs a counter).
      metrics.answers.inc({ outcome: expectation });
      log.debug({ frameId: answer.frameId, outcome: expectation }, 'answer ignored');
      return;
    }
    // Stored first: if the outbox cannot store it (a full disk), the id stays expected and the message
    // unacknowledged (edge-connection.ts), so the broker delivers it again.
    const stored = this.#deps.store(answer.frameId, JSON.stringify(answer));
    this.#deps.expected.answered(answer.frameId);
    if (!stored) {
      metrics.answers.inc({ outcome: 'duplicate' });
      return;
    }
    metrics.answers.inc({ outcome: answer.error ? 'error' : 'stored' });
    // The text is a model's (or a forger's): escaped, so a log read on a terminal (pino-pretty leaves C1 and bidi raw) drives nothing.
    log.info(
      {
        frameId: answer.frameId,
        sequence: answer.sequence,
        text: answer.text === undefined ? undefined : printable(answer.text),
        error: answer.error && { code: answer.error.code, message: printable(answer.error.message) },
      },
      'answer',
    );
    this.#deps.hook(answer);
  }
}
