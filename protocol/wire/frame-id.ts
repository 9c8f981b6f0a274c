/**
 * Frame ids: 128-bit UUIDv7 (RFC 9562), time-ordered and unique per device.
 *
 * Layout: 48-bit Unix ms | version 7 | 12-bit counter | variant 10 | 62 random bits.
 * Within one generator ids strictly increase even if the wall clock steps back
 * (the last timestamp is kept and the counter advances). Across restarts the
 * caller passes the newest id it has stored (`after`): new ids start past it,
 * so a board that boots with its clock in 1970 still never reuses or reorders
 * ids; 62 random bits make a collision between devices negligible.
 */
import { randomFillSync } from 'node:crypto';

export const FRAME_ID_BYTES = 16;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export interface FrameIdGeneratorOptions {
  /** Newest id already issued (for example the outbox's last row). */
  after?: string;
  now?: () => number;
  random?: (bytes: Uint8Array) => void;
}

export class FrameIdGenerator {
  #lastMs = -1;
  #counter = 0;
  readonly #now: () => number;
  readonly #random: (bytes: Uint8Array) => void;

  constructor(options: FrameIdGeneratorOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? ((bytes) => randomFillSync(bytes));
    if (options.after !== undefined) {
      const previous = frameIdTimestamp(options.after);
      this.#lastMs = previous;
      this.#counter = 0xfff; // forces the next id onto a later millisecond
    }
  }

  next(): string {
    const random = new Uint8Array(FRAME_ID_BYTES);
    this.#random(random);
    let ms = Math.max(Math.floor(this.#now()), 0);
    if (ms <= this.#lastMs) {
      ms = this.#lastMs;
      if (this.#counter >= 0xfff) {
        ms += 1;
        this.#counter = random[6]! & 0x7f; // leave headroom for the counter to grow
      } else {
        this.#counter += 1;
      }
    } else {
      this.#counter = ((random[6]! & 0x07) << 8) | random[7]!; // random start in the lower half
    }
    this.#lastMs = ms;
    const bytes = random;
    writeUint48(bytes, ms);
    bytes[6] = 0x70 | (this.#counter >> 8);
    bytes[7] = this.#counter & 0xff;
    bytes[8] = 0x80 | (bytes[8]! & 0x3f);
    return frameIdToString(bytes);
  }
}

function writeUint48(bytes: Uint8Array, value: number): void {
  const high = Math.floor(value / 2 ** 32);
  const low = value >>> 0;
  bytes[0] = (high >>> 8) & 0xff;
  bytes[1] = high & 0xff;
  bytes[2] = low >>> 24;
  bytes[3] = (low >>> 16) & 0xff;
  bytes[4] = (low >>> 8) & 0xff;
  bytes[5] = low & 0xff;
}

export function isFrameId(text: string): boolean {
  return UUID_PATTERN.test(text);
}

/** The millisecond timestamp inside a frame id. */
export function frameIdTimestamp(id: string): number {
  if (!isFrameId(id)) throw new RangeError(`not a frame id (UUIDv7): ${JSON.stringify(id)}`);
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

export function frameIdToString(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, FRAME_ID_BYTES).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function frameIdToBytes(id: string): Uint8Array {
  if (!isFrameId(id)) throw new RangeError(`not a frame id (UUIDv7): ${JSON.stringify(id)}`);
  return Uint8Array.from(Buffer.from(id.replaceAll('-', ''), 'hex'));
}
