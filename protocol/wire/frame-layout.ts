/**
 * Wire format v1 layout: the constants, the frame types and the size of a
 * frame of a given shape. Byte layout and the reasoning behind the limits:
 * protocol/README.md.
 */
import type { CodecName } from './codecs.ts';
import type { QuantisedTokens } from './quantise.ts';

export const MAGIC = Uint8Array.of(0x53, 0x50, 0x4c, 0x4f); // "SPLO"
export const WIRE_VERSION = 1;
export const MODEL_ID_BYTES = 16;
export const MAX_TOKENS = 4096;
export const MAX_TOKEN_WIDTH = 4096;
export { MAX_FRAME_BYTES, PROMPT_MAX_BYTES } from '../limits.ts';

export const FLAG_CLOCK_UNRELIABLE = 0x01;
/** A 32-byte HMAC-SHA256 tag sits between the payload and the CRC (wire/frame-auth.ts). */
export const FLAG_AUTHENTICATED = 0x02;
export const AUTH_TAG_BYTES = 32;
/** A request-id field (u8 length + ASCII) follows the prompt: the frame answers an operator's `ask` (protocol/commands.ts). */
export const FLAG_REQUEST = 0x04;
export const KNOWN_FLAGS = FLAG_CLOCK_UNRELIABLE | FLAG_AUTHENTICATED | FLAG_REQUEST;

/** An ask's request id: what the command, the frame and the answer envelope all accept (1..64 ASCII characters). */
export const REQUEST_ID_MAX_LENGTH = 64;
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

/** Size of the fixed header, up to and including the device id length byte. */
export const FIXED_HEADER_BYTES = 61;
export const CRC_BYTES = 4;

export interface FrameHeader {
  codec: CodecName;
  modelId: string;
  deviceId: string;
  frameId: string;
  sequence: number;
  captureTimeMs: number;
  clockUnreliable: boolean;
  prompt: string | null;
  /** The operator's ask this frame answers (flag bit 2); absent or null for scheduled frames. Decoded frames always carry it. */
  requestId?: string | null;
}

/** Bottleneck tokens from the edge network (codec 1). */
export interface NeuralFrame extends FrameHeader {
  codec: 'neural-u8';
  tokens: QuantisedTokens;
}

/**
 * The preprocessed crop itself as a baseline JPEG (codec 2): what `codec: jpeg`
 * or `auto` sends when the link is fast enough that encoding costs more than
 * the extra bytes. N and D carry the image height and width; no quantisation.
 */
export interface JpegFrame extends FrameHeader {
  codec: 'jpeg';
  image: { width: number; height: number; jpeg: Uint8Array };
}

export type WireFrame = NeuralFrame | JpegFrame;

/** The quantisation byte of a frame without quantisation parameters (JPEG). */
export const NO_QUANTISATION = 0;
export const JPEG_SOI = [0xff, 0xd8];

/** Bytes a v1 frame of this shape occupies (for budgets and the size bar). */
export function frameSize(deviceIdLength: number, promptBytes: number, count: number, width: number, scheme: 'per-tensor' | 'per-token', authenticated = false, requestIdLength = 0): number {
  const groups = scheme === 'per-token' ? count : 1;
  const request = requestIdLength > 0 ? 1 + requestIdLength : 0;
  return FIXED_HEADER_BYTES + deviceIdLength + 2 + promptBytes + request + groups * 8 + 4 + count * width + (authenticated ? AUTH_TAG_BYTES : 0) + CRC_BYTES;
}
