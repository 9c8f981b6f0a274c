/**
 * The daemon's broker connection: options from runtime/mqtt-connection.ts
 * (the same rules as the cloud worker's), MQTT 5 falling back to 3.1.1 when
 * the broker refuses it (mqtt.protocol: auto), a persistent session so the
 * broker keeps answers and commands while the board is offline (MQTT 5: a
 * session that never expires, as 3.1.1's), the offline status as the will,
 * and our own reconnects with backoff and jitter (reconnector.ts) instead of
 * mqtt.js's fixed period.
 *
 * Size bound (issue 15, finding 6: a 250 MB answer took the edge from 259 to
 * 724 MB): nothing the edge subscribes to is larger than EDGE_MAX_PACKET_BYTES.
 * Under MQTT 5 the broker is told so (Maximum Packet Size: it drops larger
 * messages for us); under either protocol a PUBLISH whose header announces
 * more is skipped unread and acknowledged (a broker that ignores the bound
 * would otherwise deliver it again on every reconnect of the persistent
 * session), any other oversize packet closes the connection before its body
 * is read; both counted by onOversize.
 *
 * Inbound messages are handed over synchronously and acknowledged when the
 * handler returns: it must have stored what it keeps by then. A handler that
 * throws has its message acknowledged too (a bad message would otherwise come
 * back forever); counting it is the handler's job.
 */
import { isUserError } from '../../protocol/errors.ts';
import { deferPuback } from '../../runtime/mqtt-puback.ts';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { LogLimiter } from '../../runtime/log-limiter.ts';
import { MAX_JSON_INPUT_BYTES } from '../../protocol/limits.ts';
import { connectMqtt, fallbackProtocol, initialProtocol, type MqttProtocol, protocolName, redactUrl } from '../../runtime/mqtt-connection.ts';
import type { EdgeConfig } from '../config/schema.ts';
import type { Clock } from './clock.ts';
import type { LinkSettings } from './profiles.ts';
import { Reconnector } from './reconnector.ts';

/** Answers and commands are at most MAX_JSON_INPUT_BYTES of JSON; twice that leaves room for topic and properties. */
export const EDGE_MAX_PACKET_BYTES = 2 * MAX_JSON_INPUT_BYTES;
/** MQTT 5's longest Session Expiry Interval: the session never expires, as a 3.1.1 persistent session. */
const SESSION_NEVER_EXPIRES = 0xffffffff;

/** What the publisher's pieces read of a packet: its command, and for acknowledgements their id and MQTT 5 reason code. */
export interface PacketSeen {
  cmd: string;
  messageId?: number | undefined;
  reasonCode?: number | undefined;
}

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
  /** Every packet written ('packetsend') and read ('packetreceive'). */
  onPacket?(direction: 'sent' | 'received', packet: PacketSeen): void;
  /** A packet announced larger than EDGE_MAX_PACKET_BYTES: a PUBLISH discarded unread and acknowledged, anything else refused (connection closed). */
  onOversize?(announcedBytes: number, outcome: 'discarded' | 'refused'): void;
}

export class EdgeConnection {
  readonly #o: EdgeConnectionOptions;
  readonly #reconnector: Reconnector;
  #client: MqttClient | null = null;
  #connected = false;
  #stopping = false;
  #protocol: MqttProtocol;
  /** A broker that stays away would otherwise cost a warning per reconnect. */
  readonly #warnings: LogLimiter;

  constructor(options: EdgeConnectionOptions) {
    this.#o = options;
    this.#protocol = initialProtocol(options.mqtt.protocol ?? 'auto');
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

  /** The MQTT version of the current (or next) connection. */
  get protocol(): '5' | '3.1.1' {
    return protocolName(this.#protocol);
  }

  /** Connects in the background; throws only for unreadable TLS or password files (a settings error). */
  start(): void {
    const { mqtt: m, link, log } = this.#o;
    const client = connectMqtt({
      settings: m,
      clientId: this.#o.clientId,
      protocol: this.#protocol,
      keepaliveSeconds: link.keepaliveSeconds,
      reconnectPeriodMs: 0, // reconnector.ts does it, with backoff and jitter
      connectTimeoutMs: Math.max(10_000, link.pubackTimeoutMs),
      will: { ...this.#o.will, qos: 1, retain: true },
      maximumPacketSize: EDGE_MAX_PACKET_BYTES,
      sessionExpirySeconds: SESSION_NEVER_EXPIRES,
      refuseOver: {
        limit: EDGE_MAX_PACKET_BYTES,
        onOversize: (announced, outcome) => {
          const what = outcome === 'discarded' ? 'message discarded unread and acknowledged' : 'connection closed before reading it';
          log.warn({ announcedBytes: announced, limit: EDGE_MAX_PACKET_BYTES }, `the broker sent an oversize packet; ${what}`);
          this.#o.onOversize?.(announced, outcome);
        },
      },
    });
    this.#client = client;
    const current = () => this.#client === client; // events of a client replaced by the fallback are ignored
    client.handleMessage = (packet, done) => {
      try {
        this.#o.onMessage(packet.topic, packet.payload as Buffer);
      } catch (error) {
        if (!isUserError(error)) {
          // Not the message's fault (the outbox could not store an answer): no PUBACK, so the broker delivers it again after a reconnect.
          log.error({ topic: packet.topic, err: (error as Error).message }, 'inbound message not taken; left unacknowledged');
          return deferPuback(done);
        }
        log.warn({ topic: packet.topic, err: (error as Error).message }, 'inbound message rejected');
      }
      done();
    };
    client.on('packetsend', (packet) => current() && this.#o.onPacket?.('sent', packet));
    client.on('packetreceive', (packet) => current() && this.#o.onPacket?.('received', packet));
    client.on('connect', () => {
      if (!current()) return;
      this.#connected = true;
      this.#reconnector.connected();
      this.#warnings.reset('mqtt error');
      log.info({ url: redactUrl(m.url), protocol: this.protocol }, 'connected to the broker');
      this.#o.onConnect();
    });
    client.on('close', () => current() && this.#onClose());
    client.on('error', (error) => {
      if (!current()) return;
      const next = this.#stopping ? null : fallbackProtocol(m.protocol ?? 'auto', this.#protocol, error);
      // Rate-limited: a broker that stays away costs a warning a minute, not one per reconnect.
      if (next === null) return void this.#warnings.warn('mqtt error', { err: error.message, url: redactUrl(m.url) }, 'mqtt error');
      // The broker does not speak MQTT 5: a fresh client with 3.1.1 (the one place the edge decides it).
      log.warn({ url: redactUrl(m.url) }, 'the broker refused MQTT 5; using MQTT 3.1.1 (no maximum packet size can be announced; oversize messages are still skipped unread)');
      this.#protocol = next;
      this.#client = null;
      client.end(true);
      this.start();
    });
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
