/**
 * Drains the outbox to the broker and receives answers and commands.
 *
 * - Publishes only while connected (mqtt.js's offline queue is never used):
 *   the outbox is the queue.
 * - At most `inflight` unacknowledged QoS 1 publishes; a publish without a
 *   PUBACK within `pubackTimeoutMs` goes back to the outbox's pool and is sent
 *   again (a duplicate at worst, which the cloud deduplicates by frame id).
 * - Reconnects itself with exponential backoff and full jitter (mqtt.js alone
 *   retries at a fixed period, every board in lockstep after an outage).
 * - Inbound answers and commands are handled before their PUBACK is sent.
 * - Measures the link as it goes (link-estimator.ts): a PINGREQ at connect and
 *   every `probeIntervalMs`, and every PUBACK, for `codec: auto`.
 */
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { TopicMap } from '../../protocol/topics.ts';
import type { Outbox } from '../outbox/outbox.ts';
import type { EdgeConfig } from '../config/schema.ts';
import { ByteBudget } from './byte-budget.ts';
import { LinkEstimator } from './link-estimator.ts';
import { backoffDelay, type LinkSettings } from './profiles.ts';

export interface PublisherEvents {
  onPublished(sequence: number, bytes: number, latencyMs: number): void;
  onPublishTimeout(sequence: number): void;
  onLinkState(connected: boolean): void;
  /** Must persist synchronously: the PUBACK follows its return. */
  onAnswer(payload: Buffer): void;
  onCommand(payload: Buffer): void;
}

export interface PublisherOptions {
  mqtt: EdgeConfig['mqtt'];
  deviceId: string;
  topics: TopicMap;
  outbox: Outbox;
  link: LinkSettings;
  log: Logger;
  events: PublisherEvents;
  /** The retained status document (without `state`). */
  status: () => Record<string, unknown>;
  /** Round-trip probes (MQTT PINGREQ) while connected; 0: only at connect. */
  probeIntervalMs?: number;
}

const ACK_FLUSH_MS = 20;

export class Publisher {
  readonly #o: PublisherOptions;
  readonly #budget: ByteBudget;
  #client: MqttClient | null = null;
  readonly #inflight = new Map<number, NodeJS.Timeout>();
  /** Bytes of each unacknowledged frame: what a new frame queues behind on the link. */
  readonly #inflightBytes = new Map<number, number>();
  readonly link = new LinkEstimator();
  #pingSentAt: number | null = null;
  #probeTimer: NodeJS.Timeout | null = null;
  #pendingAcks: number[] = [];
  #ackTimer: NodeJS.Timeout | null = null;
  #wakeTimer: NodeJS.Timeout | null = null;
  #reconnectTimer: NodeJS.Timeout | null = null;
  #attempt = 0;
  #stopping = false;
  #connected = false;
  reconnects = 0;

  constructor(options: PublisherOptions) {
    this.#o = options;
    this.#budget = new ByteBudget(options.link.bytesPerSecond, options.link.bytesPerDay);
  }

  get connected(): boolean {
    return this.#connected;
  }

  get inflight(): number {
    return this.#inflight.size;
  }

  start(): void {
    const { mqtt: m, deviceId, topics, link } = this.#o;
    const password = m.passwordFile ? readFileSync(m.passwordFile, 'utf8').trim() : m.password;
    const options: IClientOptions = {
      clientId: m.clientId ?? `splitoculo-edge-${deviceId}`,
      clean: false, // the broker keeps our answer subscription and answers while we are offline
      keepalive: link.keepaliveSeconds,
      reconnectPeriod: 0, // we reconnect ourselves, with backoff and jitter
      connectTimeout: Math.max(10_000, link.pubackTimeoutMs),
      queueQoSZero: false,
      protocolVersion: 4,
      will: { topic: topics.status(deviceId), payload: Buffer.from(JSON.stringify({ state: 'offline', device: deviceId })), qos: 1, retain: true },
      ...(m.username !== undefined && { username: m.username }),
      ...(password !== undefined && { password }),
      ...(m.ca && { ca: readFileSync(m.ca) }),
      ...(m.cert && { cert: readFileSync(m.cert) }),
      ...(m.key && { key: readFileSync(m.key) }),
    };
    const client = mqtt.connect(m.url, options);
    this.#client = client;
    client.handleMessage = (packet, done) => {
      try {
        const parsed = topics.parse(packet.topic);
        if (parsed?.deviceId === deviceId && parsed.kind === 'answer') this.#o.events.onAnswer(packet.payload as Buffer);
        else if (parsed?.deviceId === deviceId && parsed.kind === 'command') this.#o.events.onCommand(packet.payload as Buffer);
      } catch (error) {
        // Bad input is counted by the handler; acknowledging it keeps it from coming back forever.
        this.#o.log.warn({ topic: packet.topic, err: (error as Error).message }, 'inbound message rejected');
      }
      done();
    };
    // Timed from the write, not from sendPing(): mqtt.js holds packets back while it replays its store after a connect.
    client.on('packetsend', (packet) => {
      if (packet.cmd === 'pingreq' && this.#pingSentAt === null) this.#pingSentAt = performance.now();
    });
    client.on('packetreceive', (packet) => {
      if (packet.cmd !== 'pingresp' || this.#pingSentAt === null) return;
      this.link.observeRtt(performance.now() - this.#pingSentAt);
      this.#pingSentAt = null;
    });
    client.on('connect', () => this.#onConnect());
    client.on('close', () => this.#onClose());
    client.on('error', (error) => this.#o.log.warn({ err: error.message, url: m.url }, 'mqtt error'));
  }

  #onConnect(): void {
    const { deviceId, topics, log } = this.#o;
    this.#connected = true;
    this.#attempt = 0;
    log.info({ url: this.#o.mqtt.url }, 'connected to the broker');
    this.#o.events.onLinkState(true);
    this.link.reset(); // a new connection may take another path
    this.#probe();
    this.#client!.subscribe([topics.answer(deviceId), topics.command(deviceId)], { qos: 1 }, (error) => {
      if (error) log.warn({ err: error.message }, 'subscribe failed');
    });
    this.publishStatus();
    this.pump();
  }

  #onClose(): void {
    if (this.#connected) {
      this.#o.log.warn('disconnected from the broker');
      this.#o.events.onLinkState(false);
    }
    this.#connected = false;
    this.#pingSentAt = null;
    if (this.#probeTimer) clearTimeout(this.#probeTimer);
    this.#probeTimer = null;
    for (const timer of this.#inflight.values()) clearTimeout(timer);
    this.#inflight.clear(); // everything unacknowledged is sent again after reconnecting
    this.#inflightBytes.clear();
    if (this.#stopping || this.#reconnectTimer) return;
    const delay = backoffDelay(this.#attempt++, this.#o.link.backoffInitialMs, this.#o.link.backoffMaxMs);
    this.#o.log.info({ delayMs: delay, attempt: this.#attempt }, 'reconnecting after backoff');
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      if (this.#stopping) return;
      this.reconnects += 1;
      this.#client?.reconnect();
    }, delay);
  }

  /**
   * A 2-byte PINGREQ: its PINGRESP is a round trip with no transfer time in it,
   * unless it queued behind a frame (the estimator keeps the smallest). One at
   * connect, one a second later (the first often shares the link with the
   * backlog), then every probeIntervalMs.
   */
  #probe(count = 0): void {
    if (!this.#connected || this.#stopping || !this.#client) return;
    if (this.#pingSentAt === null) this.#client.sendPing();
    const interval = count === 0 ? 1000 : (this.#o.probeIntervalMs ?? 0);
    if (interval > 0) this.#probeTimer = setTimeout(() => this.#probe(count + 1), interval);
  }

  publishStatus(extra: Record<string, unknown> = {}): void {
    if (!this.#connected || !this.#client) return;
    const { deviceId, topics } = this.#o;
    const payload = JSON.stringify({ state: 'online', device: deviceId, ...this.#o.status(), ...extra, at: new Date().toISOString() });
    const started = performance.now();
    const bytesAhead = this.#bytesAhead();
    // Its PUBACK is the link's first rate sample after connecting, before any frame.
    this.#client.publish(topics.status(deviceId), payload, { qos: 1, retain: true }, (error) => {
      if (!error) this.link.observePublish(Buffer.byteLength(payload), performance.now() - started, bytesAhead);
    });
  }

  #bytesAhead(): number {
    let sum = 0;
    for (const bytes of this.#inflightBytes.values()) sum += bytes;
    return sum;
  }

  /** Send what the window and the budget allow. Cheap to call often. */
  pump(): void {
    if (!this.#connected || this.#stopping || !this.#client) return;
    const room = this.#o.link.inflight - this.#inflight.size;
    if (room <= 0) return;
    // Acknowledged frames stay in the outbox until the next ack flush: never resend those.
    const frames = this.#o.outbox.peek(room, new Set([...this.#inflight.keys(), ...this.#pendingAcks]));
    for (const frame of frames) {
      const wait = this.#budget.delayFor(frame.bytes.length);
      if (wait > 0) {
        this.#wakeAfter(wait);
        return;
      }
      this.#budget.spend(frame.bytes.length);
      this.#send(frame.sequence, frame.bytes);
    }
  }

  #send(sequence: number, bytes: Uint8Array): void {
    const client = this.#client!;
    const started = performance.now();
    const timer = setTimeout(() => {
      if (this.#inflight.get(sequence) !== timer) return;
      this.#inflight.delete(sequence);
      this.#inflightBytes.delete(sequence);
      this.#o.outbox.markAttempt(sequence);
      this.#o.events.onPublishTimeout(sequence);
      this.#o.log.warn({ sequence, timeoutMs: this.#o.link.pubackTimeoutMs }, 'no PUBACK in time; the frame stays queued and is sent again');
      this.pump();
    }, this.#o.link.pubackTimeoutMs);
    const bytesAhead = this.#bytesAhead();
    this.#inflight.set(sequence, timer);
    this.#inflightBytes.set(sequence, bytes.length);
    client.publish(this.#o.topics.frame(this.#o.deviceId), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { qos: 1 }, (error) => {
      // An error leaves the frame queued: the timeout or the reconnect sends it again.
      // After stop() the outbox may be closed; the frame then simply stays queued.
      if (error || this.#stopping) return;
      if (this.#inflight.get(sequence) === timer) {
        clearTimeout(timer);
        this.#inflight.delete(sequence);
        this.#inflightBytes.delete(sequence);
      }
      this.#queueAck(sequence);
      const latency = performance.now() - started;
      this.link.observePublish(bytes.length, latency, bytesAhead);
      this.#o.events.onPublished(sequence, bytes.length, latency);
      this.pump();
    });
  }

  #queueAck(sequence: number): void {
    this.#pendingAcks.push(sequence);
    // Deleting acknowledged rows a few ms late is safe (a crash only means a duplicate)
    // and turns a burst of PUBACKs into one SQLite transaction.
    this.#ackTimer ??= setTimeout(() => this.flushAcks(), ACK_FLUSH_MS);
  }

  flushAcks(): void {
    if (this.#ackTimer) clearTimeout(this.#ackTimer);
    this.#ackTimer = null;
    const acks = this.#pendingAcks;
    this.#pendingAcks = [];
    this.#o.outbox.ack(acks);
  }

  #wakeAfter(ms: number): void {
    if (this.#wakeTimer) return;
    this.#wakeTimer = setTimeout(() => {
      this.#wakeTimer = null;
      this.pump();
    }, Math.min(ms, 2_147_000_000));
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    for (const timer of [this.#wakeTimer, this.#reconnectTimer, this.#probeTimer]) if (timer) clearTimeout(timer);
    for (const timer of this.#inflight.values()) clearTimeout(timer);
    this.#inflight.clear();
    this.#inflightBytes.clear();
    this.flushAcks();
    const client = this.#client;
    if (!client) return;
    if (this.#connected) {
      const { deviceId, topics } = this.#o;
      const offline = client.publishAsync(topics.status(deviceId), JSON.stringify({ state: 'offline', device: deviceId, at: new Date().toISOString() }), { qos: 1, retain: true });
      // publishAsync may never settle if the link dies under it.
      await Promise.race([offline.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    }
    await client.endAsync(true).catch(() => undefined);
  }
}
