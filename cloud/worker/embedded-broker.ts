/**
 * An in-process MQTT 3.1.1 broker (aedes) for single-machine setups: the
 * worker, and the boards, connect to it like to any broker. No persistence
 * across restarts, no shared subscriptions: for more than one worker or for
 * frames that must survive a worker restart, use mosquitto or EMQX
 * (cloud/README.md). Anyone who reaches its port may connect, so its memory
 * is bounded against hostile clients: packets over MAX_PACKET_BYTES close the
 * connection at their header, before they are read (packet-size-guard.ts),
 * and only status documents stay retained, within a budget (retained-budget.ts).
 */
import { createServer, type Server } from 'node:net';
import { Aedes, type AuthorizePublishHandler } from 'aedes';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { TopicMap } from '../../protocol/topics.ts';
import { BrokerError } from '../../runtime/mqtt-connection.ts';
import { MAX_PACKET_BYTES, SizeLimitedConnection } from './packet-size-guard.ts';
import { RetainedBudget } from './retained-budget.ts';

export interface EmbeddedBrokerOptions {
  topics: TopicMap;
  /** Where the broker's counters are served (the worker's /metrics). */
  registry: Registry;
  maxPacketBytes?: number;
}

export class EmbeddedBroker {
  readonly #aedes: Aedes;
  readonly #server: Server;
  port = 0;

  private constructor(aedes: Aedes, server: Server) {
    this.#aedes = aedes;
    this.#server = server;
  }

  static async start(host: string, port: number, log: Logger, options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
    const registers = [options.registry];
    const oversize = new Counter({
      name: 'splitoculo_cloud_embedded_oversize_disconnects_total',
      help: 'embedded broker: connections closed at a packet header announcing more than the limit',
      registers,
    });
    const refused = new Counter({
      name: 'splitoculo_cloud_embedded_retain_refused_total',
      help: 'embedded broker: retained messages delivered without being kept (not a status document, or over the budget)',
      registers,
    });
    const retained = new RetainedBudget(options.topics);
    new Gauge({
      name: 'splitoculo_cloud_embedded_retained_messages',
      help: 'embedded broker: retained messages kept',
      registers,
      collect() {
        this.set(retained.topics);
      },
    });
    new Gauge({
      name: 'splitoculo_cloud_embedded_retained_bytes',
      help: 'embedded broker: payload bytes of the retained messages kept',
      registers,
      collect() {
        this.set(retained.bytes);
      },
    });
    const authorizePublish: AuthorizePublishHandler = (client, packet, callback) => {
      if (packet.topic.startsWith('$SYS')) return callback(new Error('$SYS topics are reserved')); // aedes' default check
      if (packet.retain && !retained.admit(packet.topic, packet.payload.length)) {
        packet.retain = false;
        refused.inc();
        log.debug({ client: client?.id, topic: packet.topic, bytes: packet.payload.length }, 'embedded broker: retain flag cleared');
      }
      callback(null);
    };
    const aedes = await Aedes.createBroker({ authorizePublish });
    const limit = options.maxPacketBytes ?? MAX_PACKET_BYTES;
    const server = createServer((socket) => {
      // Small packets (PUBACKs, answers) go out at once: through the wrapper they are separate writes, and Nagle
      // with delayed ACKs held each one back 40 ms (45 ms per QoS 1 publish, measured).
      socket.setNoDelay(true);
      const guarded = new SizeLimitedConnection(socket, limit, (announced) => {
        oversize.inc();
        log.warn({ remote: socket.remoteAddress, announced, limit }, 'embedded broker: packet over the size limit; connection closed unread');
      });
      aedes.handle(guarded);
    });
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
    log.info({ host, port: broker.port, maxPacketBytes: limit }, 'embedded MQTT 3.1.1 broker listening');
    return broker;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.#aedes.close(() => resolve())); // disconnects the clients
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
