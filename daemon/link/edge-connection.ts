/**
 * The daemon's broker connection: options from runtime/mqtt-connection.ts
 * (the same rules as the cloud worker's), MQTT 3.1.1 (every broker speaks it;
 * the daemon needs nothing of MQTT 5), a persistent session so the broker
 * keeps answers and commands while the board is offline, the offline status
 * as the will, and our own reconnects with backoff and jitter
 * (reconnector.ts) instead of mqtt.js's fixed period.
 *
 * Inbound messages are handed over synchronously and acknowledged when the
 * handler returns: it must have stored what it keeps by then. A handler that
 * throws has its message acknowledged too (a bad message would otherwise come
 * back forever); counting it is the handler's job.
 */
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { LogLimiter } from '../../runtime/log-limiter.ts';
import { connectMqtt, redactUrl } from '../../runtime/mqtt-connection.ts';
import type { EdgeConfig } from '../config/schema.ts';
import type { Clock } from './clock.ts';
import type { LinkSettings } from './profiles.ts';
import { Reconnector } from './reconnector.ts';

export interface EdgeConnectionOptions {
  mqtt: EdgeConfig['mqtt'];
  clientId: string;
  link: LinkSettings;
  /** The retained document the broker publishes when we vanish. */
  will: { topic: string; payload: Buffer };
  log: Logger;
  clock: Clock;
  random?: () => number;
  onConnect(): void;
  /** After every close; `wasConnected` is false for a connect attempt that failed. */
  onClose(wasConnected: boolean): void;
  onMessage(topic: string, payload: Buffer): void;
  /** Every packet written ('packetsend') and read ('packetreceive'), by command name. */
  onPacket?(direction: 'sent' | 'received', cmd: string): void;
}

export class EdgeConnection {
  readonly #o: EdgeConnectionOptions;
  readonly #reconnector: Reconnector;
  #client: MqttClient | null = null;
  #connected = false;
  #stopping = false;
  /** A broker that stays away would otherwise cost a warning per reconnect. */
  readonly #warnings: LogLimiter;

  constructor(options: EdgeConnectionOptions) {
    this.#o = options;
    this.#warnings = new LogLimiter(options.log, 60_000, () => options.clock.now());
    this.#reconnector = new Reconnector({
      initialMs: options.link.backoffInitialMs,
      maxMs: options.link.backoffMaxMs,
      clock: options.clock,
      ...(options.random && { random: options.random }),
      reconnect: () => this.#client?.reconnect(),
    });
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** The client while connected: publish only through it then (mqtt.js's offline queue is never used). */
  get client(): MqttClient | null {
    return this.#connected ? this.#client : null;
  }

  get reconnects(): number {
    return this.#reconnector.count;
  }

  /** Connects in the background; throws only for unreadable TLS or password files (a settings error). */
  start(): void {
    const { mqtt: m, link, log } = this.#o;
    const client = connectMqtt({
      settings: m,
      clientId: this.#o.clientId,
      protocol: 4,
      keepaliveSeconds: link.keepaliveSeconds,
      reconnectPeriodMs: 0, // reconnector.ts does it, with backoff and jitter
      connectTimeoutMs: Math.max(10_000, link.pubackTimeoutMs),
      will: { ...this.#o.will, qos: 1, retain: true },
    });
    this.#client = client;
    client.handleMessage = (packet, done) => {
      try {
        this.#o.onMessage(packet.topic, packet.payload as Buffer);
      } catch (error) {
        log.warn({ topic: packet.topic, err: (error as Error).message }, 'inbound message rejected');
      }
      done();
    };
    client.on('packetsend', (packet) => this.#o.onPacket?.('sent', packet.cmd));
    client.on('packetreceive', (packet) => this.#o.onPacket?.('received', packet.cmd));
    client.on('connect', () => {
      this.#connected = true;
      this.#reconnector.connected();
      this.#warnings.reset('mqtt error');
      log.info({ url: redactUrl(m.url) }, 'connected to the broker');
      this.#o.onConnect();
    });
    client.on('close', () => this.#onClose());
    client.on('error', (error) => this.#warnings.warn('mqtt error', { err: error.message, url: redactUrl(m.url) }, 'mqtt error'));
  }

  #onClose(): void {
    const was = this.#connected;
    this.#connected = false;
    // A normal stop closes the connection on purpose: not a warning.
    if (was && this.#stopping) this.#o.log.info('disconnected from the broker');
    else if (was) this.#o.log.warn('disconnected from the broker');
    this.#o.onClose(was);
    if (this.#stopping) return;
    const delay = this.#reconnector.schedule();
    // The first attempt is news; the rest are counted in the limited 'mqtt error' warnings.
    const attempt = this.#reconnector.attempt;
    if (delay !== null) this.#o.log[attempt <= 1 ? 'info' : 'debug']({ delayMs: delay, attempt }, 'reconnecting after backoff');
  }

  /**
   * Stops reconnecting; `last` runs while still connected (the offline status),
   * bounded by `lastTimeoutMs` because a publish may never settle if the link
   * dies under it. Then the connection is closed.
   */
  async stop(last?: (client: MqttClient) => Promise<unknown>, lastTimeoutMs = 2000): Promise<void> {
    this.#stopping = true;
    this.#reconnector.stop();
    const client = this.#client;
    if (!client) return;
    if (this.#connected && last) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise((resolve) => {
        timer = setTimeout(resolve, lastTimeoutMs);
        timer.unref?.();
      });
      await Promise.race([last(client).catch(() => undefined), timeout]);
      clearTimeout(timer);
    }
    await client.endAsync(true).catch(() => undefined);
  }
}
