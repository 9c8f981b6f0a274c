/**
 * A TCP relay that delays each direction by half a round trip and, when asked,
 * limits each direction's rate; it counts the bytes it carries. With kernel
 * shaping (namespace-link.ts) it only adds the delay: netem, the kernel's delay
 * queue, is not available on every host (not on this one), tbf is.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { shapedPipe } from '../../tools/shaped-pipe.ts';

export interface RelayOptions {
  listenHost: string;
  targetPort: number;
  rttMs: number;
  /** Userspace rate limit per direction; undefined: none (the kernel shapes). */
  bytesPerSecond?: number;
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
