/** Every way a wire frame can be malformed; `field` names the part at fault. */
import { UserError } from '../errors.ts';
export type FrameErrorCode =
  | 'truncated'
  | 'trailing-bytes'
  | 'bad-magic'
  | 'unsupported-version'
  | 'unknown-codec'
  | 'unsupported-codec'
  | 'unknown-quantisation'
  | 'bad-flags'
  | 'bad-device-id'
  | 'bad-prompt'
  | 'bad-request-id'
  | 'bad-shape'
  | 'bad-quantisation'
  | 'bad-payload'
  | 'bad-sequence'
  | 'crc-mismatch'
  | 'too-large';

export class FrameError extends UserError {
  override readonly name = 'FrameError';
  readonly code: FrameErrorCode;
  readonly field: string;

  constructor(code: FrameErrorCode, field: string, message: string) {
    // 'frame' as the field is the whole frame: "frame: ...", not "frame frame: ...".
    super(field === 'frame' ? `frame: ${message}` : `frame ${field}: ${message}`);
    this.code = code;
    this.field = field;
  }
}

/** Raised when tokens cannot be quantised (NaN, Infinity, wrong length). */
export class QuantiseError extends UserError {
  override readonly name = 'QuantiseError';
}
