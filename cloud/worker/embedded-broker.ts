/**
 * An in-process MQTT 3.1.1 broker (aedes) for single-machine setups: the
 * worker, and the boards, connect to it like to any broker. No persistence
 * across restarts, no shared subscriptions: for more than one worker or for
 * frames that must survive a worker restart, use mosquitto or EMQX
 * (cloud/README.md).
 */
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import type { Logger } from 'pino';
import { BrokerError } from '../../runtime/mqtt-connection.ts';

export class EmbeddedBroker {
  readonly #aedes: Aedes;
  readonly #server: Server;
  port = 0;

  private constructor(aedes: Aedes, server: Server) {
    this.#aedes = aedes;
    this.#server = server;
  }

  static async start(host: string, port: number, log: Logger): Promise<EmbeddedBroker> {
    const aedes = await Aedes.createBroker();
    const server = createServer(aedes.handle);
    const broker = new EmbeddedBroker(aedes, server);
    try {
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
    } catch (error) {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      throw new BrokerError(`embedded broker: cannot listen on ${host}:${port} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    const address = server.address();
    broker.port = typeof address === 'object' && address ? address.port : port;
    aedes.on('clientError', (client, error) => log.debug({ client: client?.id, err: error.message }, 'embedded broker: client error'));
    log.info({ host, port: broker.port }, 'embedded MQTT 3.1.1 broker listening');
    return broker;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.#aedes.close(() => resolve())); // disconnects the clients
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
