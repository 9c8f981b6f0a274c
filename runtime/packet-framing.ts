/**
 * MQTT packet framing followed over arbitrary chunks, to refuse a packet by
 * the length its fixed header announces, before its body is read. mqtt.js
 * 5.16 and aedes 1.2 (both on mqtt-packet 9) buffer a whole packet before
 * looking at its size: a 250 MB PUBLISH was held in full. The embedded
 * broker (cloud/worker/packet-size-guard.ts) and every client connection
 * (runtime/mqtt-connection.ts) count with this and close the connection on
 * the first oversize header, so at most one socket read of it is held.
 */

/** Follows MQTT framing over arbitrary chunks; `feed` returns the first oversize packet's length, or null. */
export class PacketFraming {
  readonly #limit: number;
  #state: 'type' | 'length' | 'body' = 'type';
  #length = 0;
  #multiplier = 1;
  #lengthBytes = 0;
  #remaining = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  feed(chunk: Uint8Array): number | null {
    let i = 0;
    while (i < chunk.length) {
      if (this.#state === 'body') {
        const skip = Math.min(this.#remaining, chunk.length - i);
        i += skip;
        this.#remaining -= skip;
        if (this.#remaining === 0) this.#state = 'type';
      } else if (this.#state === 'type') {
        i += 1;
        [this.#state, this.#length, this.#multiplier, this.#lengthBytes] = ['length', 0, 1, 0];
      } else {
        const byte = chunk[i++]!;
        this.#length += (byte & 0x7f) * this.#multiplier;
        this.#multiplier *= 128;
        this.#lengthBytes += 1;
        const total = 1 + this.#lengthBytes + this.#length;
        // A fifth length byte is malformed; treated as oversize (the parser would refuse it anyway).
        if (total > this.#limit || (byte & 0x80 && this.#lengthBytes === 4)) return this.#length;
        if (byte & 0x80) continue;
        this.#remaining = this.#length;
        this.#state = this.#remaining === 0 ? 'type' : 'body';
      }
    }
    return null;
  }
}
