/**
 * Why an answer could not be produced. `code` goes into the error answer a
 * device receives; `retryable` tells the worker whether trying again later
 * could help (a server that is down) or never will (a frame that does not fit).
 */
import type { AnswerErrorCode } from '../../protocol/answer.ts';
import { UserError } from '../../protocol/errors.ts';
export type AnswererErrorCode =
  | 'model-files' // a file of the Qwen folder is missing or malformed
  | 'model-mismatch' // the SplitOculo model and the Qwen files do not fit each other
  | 'bad-shape' // features of the wrong size
  | 'bad-image' // a JPEG frame whose image does not decode
  | 'bad-prompt' // a prompt the chat template cannot carry safely
  | 'deadline' // the request's deadline passed
  | 'cancelled' // the caller aborted
  | 'remote-unreachable' // the remote server could not be reached or timed out
  | 'remote-refused' // the remote server answered with an error status
  | 'remote-malformed'; // the remote server answered something that is not a chat completion

/**
 * The code the device sees in its error answer for each answerer failure:
 * the one mapping between the two vocabularies (a new AnswererErrorCode does
 * not compile until it is given one).
 */
export const ANSWER_ERROR_CODE: Readonly<Record<AnswererErrorCode, AnswerErrorCode>> = {
  'model-files': 'answerer-failed',
  'model-mismatch': 'answerer-failed',
  'bad-shape': 'answerer-failed',
  'bad-image': 'bad-frame',
  'bad-prompt': 'bad-prompt',
  deadline: 'deadline-exceeded',
  cancelled: 'answerer-failed',
  'remote-unreachable': 'answerer-failed',
  'remote-refused': 'answerer-failed',
  'remote-malformed': 'answerer-failed',
};

const RETRYABLE: ReadonlySet<AnswererErrorCode> = new Set(['remote-unreachable', 'deadline']);

export class AnswererError extends UserError {
  override readonly name = 'AnswererError';
  readonly code: AnswererErrorCode;

  constructor(code: AnswererErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }

  get retryable(): boolean {
    return RETRYABLE.has(this.code);
  }
}

/** Throws the matching AnswererError when the signal fired or the deadline (epoch ms) passed. */
export function checkStillWanted(signal: AbortSignal | undefined, deadline: number | undefined, now = Date.now()): void {
  if (signal?.aborted) throw new AnswererError('cancelled', `answer cancelled (${String(signal.reason ?? 'aborted')})`);
  if (deadline !== undefined && now > deadline) {
    throw new AnswererError('deadline', `answer deadline passed ${now - deadline} ms ago`);
  }
}
