/**
 * Answers arriving on <prefix>/<device>/answer: validated against the
 * envelope's schema, stored once per frame id, then handed to the
 * integrator's hook (answers.jsonlFile / answers.command). The publisher
 * acknowledges the message only after `receive` returns, so storing is
 * synchronous. Bad input is counted and thrown as AnswerError (the publisher
 * logs it and acknowledges, so it never comes back).
 */
import type { Logger } from 'pino';
import { AnswerError, parseAnswer, type AnswerEnvelope } from '../../protocol/answer.ts';
import type { EdgeMetrics } from '../ops/metrics.ts';

export interface AnswerInboxDeps {
  deviceId: string;
  /** Stores the answer's JSON under its frame id; false when one is already stored. */
  store: (frameId: string, json: string) => boolean;
  metrics: Pick<EdgeMetrics, 'answers'>;
  log: Pick<Logger, 'info' | 'warn'>;
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
      log.warn({ error: answer.error }, 'the cloud could not read a frame from this device');
      return;
    }
    if (!this.#deps.store(answer.frameId, JSON.stringify(answer))) {
      metrics.answers.inc({ outcome: 'duplicate' });
      return;
    }
    metrics.answers.inc({ outcome: answer.error ? 'error' : 'stored' });
    log.info({ frameId: answer.frameId, sequence: answer.sequence, text: answer.text, error: answer.error }, 'answer');
    this.#deps.hook(answer);
  }
}
