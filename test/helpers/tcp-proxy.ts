// A TCP relay on loopback: lets a test make a real broker unreachable for one
// client (nothing listens on the relay's port) and reachable again, while
// other clients stay connected to the broker directly. With `shape`, each
// direction is limited to a byte rate and delayed by half a round trip.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { shapedPipe } from '../../tools/shaped-pipe.ts';

export interface LinkShape {
  bytesPerSecond: number;
  rttMs: number;
}

export class TcpRelay {
  readonly port: number;
  readonly #target: number;
  #server: Server | null = null;
  readonly #sockets = new Set<Socket>();

  readonly #shape: LinkShape | undefined;

  constructor(port: number, targetPort: number, shape?: LinkShape) {
    this.port = port;
    this.#target = targetPort;
    this.#shape = shape;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.#target, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      if (this.#shape) {
        shapedPipe(client, upstream, this.#shape);
        shapedPipe(upstream, client, this.#shape);
      } else {
        client.pipe(upstream).pipe(client);
      }
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(this.port, '127.0.0.1', resolve));
    this.#server = server;
  }

  /** Stops listening and cuts every relayed connection. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    const server = this.#server;
    this.#server = null;
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}
