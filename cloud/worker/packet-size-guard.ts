/**
 * A size limit on MQTT packets before they are read. aedes 1.2 and its
 * parser (mqtt-packet 9) buffer a whole packet, whatever its announced
 * length, before looking at it: a 250 MB PUBLISH was read in full. This
 * stream sits between a client's socket and aedes, follows the packet
 * framing (fixed header: type byte, 1-4 byte remaining length, body) and
 * closes the connection as soon as a header announces more than the limit,
 * so at most one socket read of such a packet is ever held. MQTT 3.1.1 has no
 * way to tell a client why; MQTT 5 clients (the worker's own subscriber) are
 * told the same limit as Maximum Packet Size.
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { MAX_FRAME_BYTES } from '../../protocol/limits.ts';
import { PacketFraming } from '../../runtime/packet-framing.ts';

/** The largest packet worth reading: a frame plus topic and header room. */
export const MAX_PACKET_BYTES = MAX_FRAME_BYTES + 64 * 1024;

export { PacketFraming };

/** The socket as aedes sees it, with packets over `limit` refused at their header: `onOversize` runs and the socket is destroyed. */
export class SizeLimitedConnection extends Duplex {
  readonly #socket: Socket;

  constructor(socket: Socket, limit: number, onOversize: (announced: number) => void) {
    super({ allowHalfOpen: false });
    this.#socket = socket;
    const framing = new PacketFraming(limit);
    socket.on('data', (chunk: Buffer) => {
      const oversize = framing.feed(chunk);
      if (oversize !== null) {
        onOversize(oversize);
        socket.destroy();
        return;
      }
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('close', () => this.destroy());
    socket.on('error', (error) => this.destroy(error));
  }

  get remoteAddress(): string | undefined {
    return this.#socket.remoteAddress;
  }

  override _read(): void {
    this.#socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#socket.write(chunk, callback);
  }

  /** aedes writes a packet in pieces: handed to the socket together, as it would have had them. */
  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.#socket.cork();
    for (let i = 0; i < chunks.length - 1; i++) this.#socket.write(chunks[i]!.chunk);
    this.#socket.write(chunks.at(-1)!.chunk, callback);
    this.#socket.uncork();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#socket.end(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#socket.destroy();
    callback(error);
  }
}
