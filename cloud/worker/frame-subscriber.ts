/**
 * The worker's MQTT side: a persistent session subscribed to every device's
 * frame topic (through a shared subscription group when configured), answers
 * published QoS 1, and frames acknowledged only once their answer is out.
 *
 * mqtt.js sends the PUBACK of an inbound QoS 1 message when handleMessage's
 * callback runs, and handles no further packet (not even PINGRESP) until then,
 * so holding the callback for the length of an inference would serialise the
 * worker and trip the keepalive. Instead the callback gets an error, which
 * makes mqtt.js skip its PUBACK, and the worker sends the PUBACK itself when
 * the frame's answer has been acknowledged by the broker. A PUBACK is only
 * ever sent on the connection the frame arrived on; after a reconnect the
 * broker redelivers the frame instead (and the dedup store answers it).
 */
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type IPublishPacket, type ISubscriptionMap, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { TopicMap } from '../../protocol/topics.ts';
import { MAX_FRAME_BYTES } from '../../protocol/wire/frame.ts';
import type { CloudConfig } from '../config/schema.ts';
import { UserError } from '../../protocol/errors.ts';

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

export class BrokerError extends UserError {
  override readonly name = 'BrokerError';
}

/** Given to handleMessage's callback: mqtt.js then skips its own PUBACK (see above). */
const ACK_DEFERRED = Object.assign(new Error('acknowledged later by the worker'), { deferred: true });
const UNSUPPORTED_PROTOCOL = new Set([1, 132]); // 3.1.1 CONNACK 1, MQTT 5 reason 0x84

export class FrameSubscriber {
  readonly #o: SubscriberOptions;
  #client: MqttClient | null = null;
  #protocol: 4 | 5;
  #generation = 0;
  #pending = 0;
  /** Frames received while maxPending were in progress, started in order as slots free (at most maxPending). */
  readonly #waiting: (() => void)[] = [];
  /** Frames beyond that, left unacknowledged at the broker. */
  #shed = 0;
  #stopping = false;

  constructor(options: SubscriberOptions) {
    this.#o = options;
    this.#protocol = options.mqtt.protocol === '3.1.1' ? 4 : 5;
  }

  get protocol(): '5' | '3.1.1' {
    return this.#protocol === 5 ? '5' : '3.1.1';
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
        const code = (error as { code?: number }).code;
        if (this.#o.mqtt.protocol === 'auto' && this.#protocol === 5 && code !== undefined && UNSUPPORTED_PROTOCOL.has(code)) {
          this.#o.log.warn({ url: this.#o.mqtt.url }, 'broker refused MQTT 5; using MQTT 3.1.1 (no shared subscriptions, no Receive Maximum)');
          this.#protocol = 4;
          continue;
        }
        throw error;
      }
    }
  }

  #options(): IClientOptions {
    const m = this.#o.mqtt;
    const v5 = this.#protocol === 5;
    return {
      clientId: this.#o.clientId,
      protocolVersion: this.#protocol,
      clean: false,
      keepalive: m.keepaliveSeconds,
      reconnectPeriod: 1000 + Math.floor(Math.random() * 1000), // workers do not reconnect in lockstep
      connectTimeout: 15_000,
      queueQoSZero: false,
      resubscribe: false, // the connect handler subscribes itself, on every connection
      // MQTT 5 brokers drop anything larger than a frame can be instead of sending it (3.1.1: decodeFrame refuses it unread).
      ...(v5 && { properties: { sessionExpiryInterval: m.sessionExpirySeconds, receiveMaximum: this.#o.maxPending, maximumPacketSize: MAX_FRAME_BYTES + 64 * 1024 } }),
      ...(m.username !== undefined && { username: m.username }),
      ...(m.passwordFile !== undefined && { password: readFileSync(m.passwordFile, 'utf8').trim() }),
      ...(m.ca !== undefined && { ca: readFileSync(m.ca) }),
      ...(m.cert !== undefined && { cert: readFileSync(m.cert) }),
      ...(m.key !== undefined && { key: readFileSync(m.key) }),
    };
  }

  #connect(): Promise<void> {
    const { log, topics } = this.#o;
    const client = mqtt.connect(this.#o.mqtt.url, this.#options());
    this.#client = client;
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
        log.info({ url: this.#o.mqtt.url, protocol: this.protocol, sessionPresent: connack.sessionPresent }, 'connected to the broker');
        // Subscribe even when the session is present: mosquitto 2.0 restores a session across its own restart
        // but forgets its shared subscriptions (cloud/README.md). Subscribing again changes nothing otherwise.
        // `resubscribe: true` makes mqtt.js send it even though it remembers the filter from the last connection.
        const subscription = { [filter]: { qos: 1 }, resubscribe: true } as unknown as ISubscriptionMap;
        client.subscribe(subscription, (error, granted) => {
          if (error || !granted?.length || granted.some((g) => g.qos > 2)) {
            const failure = new BrokerError(`${this.#o.mqtt.url}: the broker refused the subscription to ${filter}${error ? ` (${error.message})` : ''}`);
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
        if (settled && typeof code === 'number' && UNSUPPORTED_PROTOCOL.has(code) && this.#o.mqtt.protocol === 'auto' && this.#protocol === 5) {
          log.warn({ url: this.#o.mqtt.url }, 'broker refused MQTT 5; using MQTT 3.1.1 (no shared subscriptions, no Receive Maximum)');
          this.#protocol = 4;
          client.end(true);
          void this.#connect().catch((failure: Error) => log.error({ err: failure.message }, 'broker connection failed'));
          return;
        }
        if (typeof code === 'number' && !settled) {
          // The broker answered and refused us (protocol version, credentials, client id): retrying cannot help.
          client.end(true);
          settle(Object.assign(new BrokerError(`${this.#o.mqtt.url}: the broker refused the connection: ${error.message}`), { code }));
          return;
        }
        log.warn({ url: this.#o.mqtt.url, err: error.message }, 'broker not reachable; retrying');
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
    callback(ACK_DEFERRED);
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
        (client as unknown as { _sendPacket(p: object, cb: () => void): void })._sendPacket({ cmd: 'puback', messageId }, () => undefined);
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
