/**
 * Why an answer could not be produced. `code` goes into the error answer a
 * device receives; `retryable` tells the worker whether trying again later
 * could help (a server that is down) or never will (a frame that does not fit).
 */
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
