/**
 * A client connection's inbound bytes with oversize PUBLISH packets cut out
 * unread. A broker that ignores MQTT 5's Maximum Packet Size, or any 3.1.1
 * broker (no way to ask), may send a message larger than the client reads.
 * Hanging up on it is not enough: a persistent session delivers the same
 * QoS 1 message again on every reconnect, so the client would reconnect
 * forever. Instead the body is skipped as it streams past (never buffered:
 * memory stays at one socket read), the packet id is picked out of the
 * variable header, and the caller acknowledges it, so the session moves on.
 * Only what cannot be skipped safely (an oversize packet that is not a QoS
 * 0/1 PUBLISH, a malformed length) still closes the connection.
 */
import { Duplex } from 'node:stream';

export type OversizeOutcome = 'discarded' | 'refused';

export interface OversizeEvents {
  /** An oversize QoS 0/1 PUBLISH fully skipped; `packetId` (QoS 1) is to be acknowledged. */
  discarded(announced: number, packetId: number | null): void;
  /** An oversize packet that cannot be skipped: the caller closes the connection. */
  refused(announced: number): void;
}

/** Follows MQTT framing over arbitrary chunks; `filter` returns the bytes to pass on (oversize PUBLISH packets removed). */
export class OversizePublishFilter {
  readonly #limit: number;
  readonly #events: OversizeEvents;
  #state: 'type' | 'length' | 'pass' | 'skip' | 'refused' = 'type';
  #header: number[] = [];
  #length = 0;
  #multiplier = 1;
  #remaining = 0;
  /** Inside a skipped PUBLISH: the topic length (2 bytes), the topic, the packet id (2 bytes, QoS 1), the rest. */
  #part: 'topicLength' | 'topic' | 'packetId' | 'rest' = 'rest';
  #qos = 0;
  #field: number[] = [];
  #topicLeft = 0;
  #packetId: number | null = null;

  constructor(limit: number, events: OversizeEvents) {
    this.#limit = limit;
    this.#events = events;
  }

  filter(chunk: Buffer): Buffer {
    const out: Buffer[] = [];
    let i = 0;
    while (i < chunk.length && this.#state !== 'refused') {
      if (this.#state === 'pass') {
        const n = Math.min(this.#remaining, chunk.length - i);
        out.push(chunk.subarray(i, i + n));
        i += n;
        this.#remaining -= n;
        if (this.#remaining === 0) this.#state = 'type';
      } else if (this.#state === 'skip') {
        i = this.#skip(chunk, i);
      } else if (this.#state === 'type') {
        [this.#state, this.#header, this.#length, this.#multiplier] = ['length', [chunk[i++]!], 0, 1];
      } else {
        const byte = chunk[i++]!;
        this.#header.push(byte);
        this.#length += (byte & 0x7f) * this.#multiplier;
        this.#multiplier *= 128;
        if (byte & 0x80) {
          // A fifth length byte is malformed (the parser would refuse it anyway).
          if (this.#header.length === 5) this.#refuse();
          continue;
        }
        this.#headerDone(out);
      }
    }
    if (out.length === 1 && out[0]!.length === chunk.length) return chunk;
    return Buffer.concat(out);
  }

  #headerDone(out: Buffer[]): void {
    const type = this.#header[0]!;
    this.#remaining = this.#length;
    if (this.#header.length + this.#length <= this.#limit) {
      out.push(Buffer.from(this.#header));
      this.#state = this.#remaining === 0 ? 'type' : 'pass';
      return;
    }
    this.#qos = (type >> 1) & 3;
    if (type >> 4 !== 3 || this.#qos === 2) {
      this.#refuse();
      return;
    }
    [this.#state, this.#part, this.#field, this.#packetId] = ['skip', 'topicLength', [], null];
  }

  #skip(chunk: Buffer, start: number): number {
    let i = start;
    if (this.#part === 'topicLength' || this.#part === 'packetId') {
      this.#field.push(chunk[i++]!);
      this.#remaining -= 1;
      if (this.#field.length === 2) {
        const value = (this.#field[0]! << 8) | this.#field[1]!;
        this.#field = [];
        if (this.#part === 'topicLength') [this.#part, this.#topicLeft] = ['topic', value];
        else [this.#part, this.#packetId] = ['rest', value];
      }
    } else {
      const want = this.#part === 'topic' ? this.#topicLeft : this.#remaining;
      const n = Math.min(want, this.#remaining, chunk.length - i);
      i += n;
      this.#remaining -= n;
      if (this.#part === 'topic') {
        this.#topicLeft -= n;
        if (this.#topicLeft === 0) this.#part = this.#qos === 1 ? 'packetId' : 'rest';
      }
    }
    if (this.#remaining === 0) {
      this.#state = 'type';
      this.#events.discarded(this.#length, this.#packetId);
    }
    return i;
  }

  #refuse(): void {
    this.#state = 'refused';
    this.#events.refused(this.#length);
  }
}

/** MQTT PUBACK for `packetId` (reason Success: the short form, valid in 3.1.1 and 5). */
export function pubackPacket(packetId: number): Buffer {
  return Buffer.from([0x40, 0x02, packetId >> 8, packetId & 0xff]);
}

/** net/tls `onread`: reads land in one reused buffer instead of a new allocation each (see OversizeFilteredStream). */
export interface StaticReads {
  buffer: Buffer;
  callback(bytes: number, buffer: Buffer): boolean;
}

/**
 * A connection's socket as mqtt.js sees it: reads filtered (oversize PUBLISH
 * packets cut out, each acknowledged through this stream's own write side, so
 * a PUBACK never lands between the pieces of a packet mqtt.js is writing),
 * writes, end, close and errors passed through.
 *
 * Memory: with 'data' events every socket read is a fresh 64 KB buffer, and
 * V8 collects them only after tens of MB of external memory (a 250 MB body
 * skipped that way grew the process by 82 MB, measured). A socket made with
 * `staticReads()` as its `onread` reads into one reused buffer instead; only
 * the bytes passed on are copied out (the skipped body: +5 MB).
 */
export class OversizeFilteredStream extends Duplex {
  #inner: Duplex | null = null;
  readonly #filter: OversizePublishFilter;

  constructor(limit: number, onOversize: (announced: number, outcome: OversizeOutcome) => void) {
    super({ allowHalfOpen: false });
    this.#filter = new OversizePublishFilter(limit, {
      discarded: (announced, packetId) => {
        onOversize(announced, 'discarded');
        if (packetId !== null && !this.destroyed) this.write(pubackPacket(packetId));
      },
      refused: (announced) => {
        onOversize(announced, 'refused');
        this.#inner?.destroy();
      },
    });
  }

  /** The `onread` option for the socket this stream will wrap: reads into one 64 KB buffer, passed bytes copied out. */
  staticReads(): StaticReads {
    return { buffer: Buffer.allocUnsafe(64 * 1024), callback: (bytes, buffer) => this.#received(buffer.subarray(0, bytes), true) };
  }

  /** Wraps `inner`; `staticReads`: it was made with this stream's staticReads() (no 'data' events then). */
  attach(inner: Duplex, staticReads: boolean): this {
    this.#inner = inner;
    if (!staticReads) inner.on('data', (chunk: Buffer) => this.#received(chunk, false) || inner.pause());
    inner.on('end', () => this.push(null));
    inner.on('error', (error) => this.destroy(error));
    inner.on('close', () => this.destroy());
    return this;
  }

  /** false: the reader is full (pause the socket until _read). */
  #received(chunk: Buffer, reused: boolean): boolean {
    const passed = this.#filter.filter(chunk);
    if (passed.length === 0 || this.destroyed) return true;
    return this.push(reused && passed.buffer === chunk.buffer ? Buffer.from(passed) : passed);
  }

  override _read(): void {
    this.#inner?.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#send(chunk, callback);
  }

  /** mqtt-packet writes a packet in pieces inside cork()/uncork(): they reach the socket as one write (one segment, as before the wrapper). */
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.#send(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), callback);
  }

  #send(chunk: Buffer, callback: (error?: Error | null) => void): void {
    if (!this.#inner || this.#inner.write(chunk)) callback();
    else this.#inner.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#inner) this.#inner.end(() => callback());
    else callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#inner?.destroy();
    callback(error);
  }
}
