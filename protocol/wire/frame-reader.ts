/** Reads a frame's fields in order; every read is bounds-checked and names its field (FrameError 'truncated'). */
import { FrameError } from './errors.ts';

export class Reader {
  at = 0;
  readonly bytes: Uint8Array;
  readonly view: DataView;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  need(field: string, count: number): void {
    if (this.bytes.length - this.at < count) {
      throw new FrameError('truncated', field, `needs ${count} bytes at offset ${this.at}, only ${this.bytes.length - this.at} remain`);
    }
  }

  u8(field: string): number {
    this.need(field, 1);
    return this.view.getUint8(this.at++);
  }

  u16(field: string): number {
    this.need(field, 2);
    const value = this.view.getUint16(this.at);
    this.at += 2;
    return value;
  }

  u32(field: string): number {
    this.need(field, 4);
    const value = this.view.getUint32(this.at);
    this.at += 4;
    return value;
  }

  u64(field: string): bigint {
    this.need(field, 8);
    const value = this.view.getBigUint64(this.at);
    this.at += 8;
    return value;
  }

  f32(field: string): number {
    this.need(field, 4);
    const value = this.view.getFloat32(this.at);
    this.at += 4;
    return value;
  }

  slice(field: string, count: number): Uint8Array {
    this.need(field, count);
    const out = this.bytes.subarray(this.at, this.at + count);
    this.at += count;
    return out;
  }
}
