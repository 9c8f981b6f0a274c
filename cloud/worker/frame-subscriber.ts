/**
 * The worker's MQTT side: a persistent session subscribed to every device's
 * frame topic (through a shared subscription group when configured), answers
 * published QoS 1, and frames acknowledged only once their answer is out.
 * The connection is made by runtime/mqtt-connection.ts, as the edge's is.
 *
 * mqtt.js would send the PUBACK of an inbound QoS 1 message when
 * handleMessage's callback runs, and reads nothing more until then; the worker
 * releases it at once and sends the PUBACK itself when the frame's answer has
 * been acknowledged by the broker (runtime/mqtt-puback.ts). A PUBACK is only
 * ever sent on the connection the frame arrived on; after a reconnect the
 * broker redelivers the frame instead (and the dedup store answers it).
 */
import type { IPublishPacket, ISubscriptionMap, MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { TopicMap } from '../../protocol/topics.ts';
import { BrokerError, connectMqtt, fallbackProtocol, initialProtocol, type MqttProtocol, protocolName, redactUrl } from '../../runtime/mqtt-connection.ts';
import { assertDeferredPuback, deferPuback, sendPuback } from '../../runtime/mqtt-puback.ts';
import type { CloudConfig } from '../config/schema.ts';
import { MAX_PACKET_BYTES } from './packet-size-guard.ts';

export { BrokerError };

export interface IncomingFrame {
  topic: string;
  payload: Buffer;
  /** Sends the PUBACK (once, and only on the connection the frame came in on) and frees its slot. */
  ack(): void;
  /** Frees the slot without acknowledging (the broker redelivers after a reconnect). */
  release(): void;
}

export interface SubscriberOptions {
  mqtt: CloudConfig['mqtt'] & { url: string };
  clientId: string;
  topics: TopicMap;
  maxPending: number;
  log: Logger;
  onFrame(frame: IncomingFrame): void;
  onConnection(connected: boolean): void;
}

const FALLBACK_WARNING = 'broker refused MQTT 5; using MQTT 3.1.1 (no shared subscriptions, no Receive Maximum)';

export class FrameSubscriber {
  readonly #o: SubscriberOptions;
  #client: MqttClient | null = null;
  #protocol: MqttProtocol;
  #generation = 0;
  #pending = 0;
  /** Frames received while maxPending were in progress, started in order as slots free (at most maxPending). */
  readonly #waiting: (() => void)[] = [];
  /** Frames beyond that, left unacknowledged at the broker. */
  #shed = 0;
  #stopping = false;

  /** The worker's subscriber: mqtt.url, else the embedded broker (on loopback when it listens on every address). */
  static forWorker(
    config: CloudConfig,
    at: { workerId: string; brokerPort: number | null; topics: TopicMap; log: Logger },
    handlers: Pick<SubscriberOptions, 'onFrame' | 'onConnection'>,
  ): FrameSubscriber {
    const host = ['0.0.0.0', '::'].includes(config.broker.host) ? '127.0.0.1' : config.broker.host;
    return new FrameSubscriber({
      mqtt: { ...config.mqtt, url: config.mqtt.url ?? `mqtt://${host}:${at.brokerPort}` },
      clientId: config.mqtt.clientId ?? `splitoculo-cloud-${at.workerId}`.slice(0, 128),
      topics: at.topics,
      maxPending: config.worker.maxPending,
      log: at.log,
      ...handlers,
    });
  }

  constructor(options: SubscriberOptions) {
    this.#o = options;
    this.#protocol = initialProtocol(options.mqtt.protocol);
  }

  get protocol(): '5' | '3.1.1' {
    return protocolName(this.#protocol);
  }

  get pending(): number {
    return this.#pending;
  }

  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  /** Resolves once connected and subscribed the first time. */
  async start(): Promise<void> {
    for (;;) {
      try {
        await this.#connect();
        return;
      } catch (error) {
        if (!this.#fallBack(error)) throw error;
      }
    }
  }

  /** Switches to MQTT 3.1.1 when `auto` and the broker refused 5 (the one place that decides it). */
  #fallBack(error: unknown): boolean {
    const next = fallbackProtocol(this.#o.mqtt.protocol, this.#protocol, error);
    if (next === null) return false;
    this.#o.log.warn({ url: redactUrl(this.#o.mqtt.url) }, FALLBACK_WARNING);
    this.#protocol = next;
    return true;
  }

  #connect(): Promise<void> {
    const { log, topics } = this.#o;
    const m = this.#o.mqtt;
    const client = connectMqtt({
      settings: m,
      clientId: this.#o.clientId,
      protocol: this.#protocol,
      keepaliveSeconds: m.keepaliveSeconds,
      reconnectPeriodMs: 1000 + Math.floor(Math.random() * 1000), // workers do not reconnect in lockstep
      connectTimeoutMs: 15_000,
      resubscribe: false, // the connect handler subscribes itself, on every connection
      // MQTT 5 brokers drop anything larger than a frame can be instead of sending it (3.1.1: decodeFrame refuses it unread).
      maximumPacketSize: MAX_PACKET_BYTES,
      sessionExpirySeconds: m.sessionExpirySeconds,
      receiveMaximum: this.#o.maxPending,
    });
    assertDeferredPuback(client);
    this.#client = client;
    const url = redactUrl(m.url);
    client.handleMessage = (packet, callback) => this.#handle(packet, callback);
    const filter = topics.allDevices('frame', this.#protocol === 5 ? this.#o.mqtt.sharedGroup : undefined);
    if (this.#o.mqtt.sharedGroup && this.#protocol !== 5) log.warn('mqtt.sharedGroup needs MQTT 5; this worker takes every frame');
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (error?: Error) => {
        if (settled) return;
        settled = true;
        if (error) reject(error);
        else resolve();
      };
      client.on('connect', (connack) => {
        this.#generation++;
        this.#o.onConnection(true);
        log.info({ url, protocol: this.protocol, sessionPresent: connack.sessionPresent }, 'connected to the broker');
        // Subscribe even when the session is present: mosquitto 2.0 restores a session across its own restart
        // but forgets its shared subscriptions (cloud/README.md). Subscribing again changes nothing otherwise.
        // `resubscribe: true` makes mqtt.js send it even though it remembers the filter from the last connection.
        const subscription = { [filter]: { qos: 1 }, resubscribe: true } as unknown as ISubscriptionMap;
        client.subscribe(subscription, (error, granted) => {
          if (error || !granted?.length || granted.some((g) => g.qos > 2)) {
            const failure = new BrokerError(`${url}: the broker refused the subscription to ${filter}${error ? ` (${error.message})` : ''}`);
            if (!settled) client.end(true);
            settle(failure);
            log.error({ err: failure.message }, 'subscribe failed');
            return;
          }
          log.info({ filter }, 'subscribed');
          settle();
        });
      });
      client.on('close', () => this.#o.onConnection(false));
      client.on('error', (error) => {
        const code = (error as { code?: unknown }).code;
        if (settled && this.#fallBack(error)) {
          client.end(true);
          void this.#connect().catch((failure: Error) => log.error({ err: failure.message }, 'broker connection failed'));
          return;
        }
        if (typeof code === 'number' && !settled) {
          // The broker answered and refused us (protocol version, credentials, client id): retrying cannot help.
          client.end(true);
          settle(Object.assign(new BrokerError(`${url}: the broker refused the connection: ${error.message}`), { code }));
          return;
        }
        log.warn({ url, err: error.message }, 'broker not reachable; retrying');
        settle(); // keep serving: mqtt.js reconnects, and the subscription is made on connect
      });
    });
  }

  #handle(packet: IPublishPacket, callback: (error?: Error) => void): void {
    // Always release mqtt.js at once: it reads no further packet (our answers' PUBACKs, PINGRESP) until then.
    if (packet.qos === 0) {
      callback();
      return; // frames are published QoS 1; a QoS 0 copy has no ack to hold
    }
    deferPuback(callback);
    if (this.#stopping) return; // not taken: it stays unacknowledged and goes to the next run
    const generation = this.#generation;
    const take = () => this.#take(packet, generation);
    if (this.#pending < this.#o.maxPending) take();
    else if (this.#waiting.length < this.#o.maxPending) this.#waiting.push(take);
    else this.#shed++; // left unacknowledged: collected by a reconnect once the backlog drains
  }

  #take(packet: IPublishPacket, generation: number): void {
    this.#pending++;
    const messageId = packet.messageId!;
    let done = false;
    const settle = (acknowledge: boolean) => {
      if (done) return;
      done = true;
      this.#pending--;
      const client = this.#client;
      if (acknowledge && client?.connected && generation === this.#generation) {
        sendPuback(client, messageId);
      }
      if (this.#stopping) return;
      this.#waiting.shift()?.();
      if (this.#pending === 0 && this.#shed > 0 && client) {
        // The broker redelivers unacknowledged frames of a persistent session on reconnect.
        this.#o.log.info({ frames: this.#shed }, 'reconnecting to collect frames left unacknowledged under load');
        this.#shed = 0;
        client.end(false, {}, () => client.reconnect());
      }
    };
    this.#o.onFrame({ topic: packet.topic, payload: packet.payload as Buffer, ack: () => settle(true), release: () => settle(false) });
  }

  /** Publishes QoS 1 and resolves on the broker's PUBACK; rejects after publishTimeoutMs or when offline. */
  publish(topic: string, payload: Buffer): Promise<void> {
    const client = this.#client;
    if (!client?.connected) return Promise.reject(new Error('not connected to the broker'));
    const timeoutMs = this.#o.mqtt.publishTimeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no PUBACK within ${timeoutMs} ms`)), timeoutMs);
      client.publish(topic, payload, { qos: 1 }, (error) => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      });
    });
  }

  /** Stops taking frames; frames not yet started stay unacknowledged (the broker keeps them for the next run). */
  pause(): void {
    this.#stopping = true;
    this.#waiting.length = 0;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    const client = this.#client;
    this.#client = null;
    if (client) await client.endAsync(false).catch(() => client.end(true));
  }
}
