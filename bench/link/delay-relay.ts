/**
 * A TCP relay that delays each direction by half a round trip and, when asked,
 * limits each direction's rate; it counts the bytes it carries. With kernel
 * shaping (namespace-link.ts) it only adds the delay: netem, the kernel's delay
 * queue, is not available on every host (not on this one), tbf is.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface RelayOptions {
  listenHost: string;
  targetPort: number;
  rttMs: number;
  /** Userspace rate limit per direction; undefined: none (the kernel shapes). */
  bytesPerSecond?: number;
}

/**
 * Forwards `from` to `to` delayed by half a round trip and, with a rate, no
 * faster than it; byte order is kept (a constant delay keeps the order; the
 * rate term only ever pushes later chunks later).
 */
export function shapedPipe(from: Socket, to: Socket, shape: { rttMs: number; bytesPerSecond?: number | undefined }, count: (bytes: number) => void = () => undefined): void {
  const { rttMs, bytesPerSecond } = shape;
  if (rttMs === 0 && bytesPerSecond === undefined) {
    from.on('data', (chunk: Buffer) => {
      count(chunk.length);
      if (!to.destroyed) to.write(chunk);
    });
    return;
  }
  let freeAt = 0;
  from.on('data', (chunk: Buffer) => {
    count(chunk.length);
    const now = performance.now();
    freeAt = Math.max(freeAt, now) + (bytesPerSecond ? (chunk.length / bytesPerSecond) * 1000 : 0);
    setTimeout(() => {
      if (!to.destroyed) to.write(chunk);
    }, freeAt - now + rttMs / 2);
  });
}

export class DelayRelay {
  readonly #o: RelayOptions;
  #server: Server | null = null;
  readonly #sockets = new Set<Socket>();
  port = 0;
  /** Bytes carried edge -> broker and broker -> edge (TCP payload: MQTT bytes). */
  readonly carried = { up: 0, down: 0 };

  constructor(options: RelayOptions) {
    this.#o = options;
  }

  async open(): Promise<void> {
    const server = createServer((edge) => {
      const broker = connect(this.#o.targetPort, '127.0.0.1');
      for (const socket of [edge, broker]) {
        socket.setNoDelay(true);
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      this.#pipe(edge, broker, 'up');
      this.#pipe(broker, edge, 'down');
      edge.on('close', () => broker.destroy());
      broker.on('close', () => edge.destroy());
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, this.#o.listenHost, resolve));
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
  }

  #pipe(from: Socket, to: Socket, direction: 'up' | 'down'): void {
    shapedPipe(from, to, this.#o, (bytes) => (this.carried[direction] += bytes));
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    const server = this.#server;
    this.#server = null;
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}
