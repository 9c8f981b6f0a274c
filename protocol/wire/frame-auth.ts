/**
 * Frame authentication with a per-device key, for brokers without per-device
 * ACLs and against a compromised bridge. The edge signs a finished v1 frame:
 * it sets flag bit 1 and inserts HMAC-SHA256(key, every byte before the tag)
 * between the payload and the CRC. The worker verifies the tag with a
 * constant-time comparison before it decodes anything; a frame that is not
 * signed, or signed with another key, is refused.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { crc32c } from './crc32c.ts';
import { FrameError } from './errors.ts';
import { AUTH_TAG_BYTES, FIXED_HEADER_BYTES, FLAG_AUTHENTICATED, MAGIC } from './frame.ts';

const CRC_BYTES = 4;
const FLAGS_AT = 7;

/** The signed copy of an unsigned frame (encodeFrame's output). */
export function signFrame(frame: Uint8Array, key: Uint8Array): Uint8Array {
  if (frame.length < FIXED_HEADER_BYTES + CRC_BYTES || !MAGIC.every((b, i) => frame[i] === b)) {
    throw new FrameError('truncated', 'frame', 'not a complete SplitOculo frame');
  }
  if (frame[FLAGS_AT]! & FLAG_AUTHENTICATED) throw new FrameError('bad-flags', 'flags', 'frame is already signed');
  const body = frame.length - CRC_BYTES;
  const out = new Uint8Array(frame.length + AUTH_TAG_BYTES);
  out.set(frame.subarray(0, body));
  out[FLAGS_AT] = out[FLAGS_AT]! | FLAG_AUTHENTICATED;
  out.set(tag(key, out.subarray(0, body)), body);
  new DataView(out.buffer).setUint32(body + AUTH_TAG_BYTES, crc32c(out, 0, body + AUTH_TAG_BYTES));
  return out;
}

/** Whether the frame claims to be signed (flag bit 1); says nothing about the tag. */
export function isSigned(frame: Uint8Array): boolean {
  return frame.length > FLAGS_AT && MAGIC.every((b, i) => frame[i] === b) && (frame[FLAGS_AT]! & FLAG_AUTHENTICATED) !== 0;
}

/** True when the frame is signed and its tag is this key's. Reads nothing but the bytes' ends. */
export function verifyFrame(frame: Uint8Array, key: Uint8Array): boolean {
  if (!isSigned(frame) || frame.length < FIXED_HEADER_BYTES + AUTH_TAG_BYTES + CRC_BYTES) return false;
  const tagAt = frame.length - CRC_BYTES - AUTH_TAG_BYTES;
  const expected = tag(key, frame.subarray(0, tagAt));
  return timingSafeEqual(expected, frame.subarray(tagAt, tagAt + AUTH_TAG_BYTES));
}

function tag(key: Uint8Array, bytes: Uint8Array): Buffer {
  return createHmac('sha256', key).update(bytes).digest();
}
