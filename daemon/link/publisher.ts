/**
 * Drains the outbox to the broker and receives answers and commands. The
 * parts, each with its own file and its own tests on mocked time:
 * - edge-connection.ts: options, will, reconnects with backoff and jitter;
 * - link-probe.ts: PINGREQ round trips for the link estimator;
 * - inflight-window.ts: at most `inflight` unacknowledged QoS 1 publishes, a
 *   publish without PUBACK in `pubackTimeoutMs` goes back to the outbox's pool
 *   and is sent again (a duplicate at worst: the cloud deduplicates by frame id);
 * - byte-budget.ts: bytes per second and per day (delays, never drops);
 * - ack-batch.ts: acknowledged frames leave the outbox in one transaction.
 *
 * Here: the order of things. Publishes only while connected (mqtt.js's offline queue is never used: the outbox is the queue);
 * inbound answers and commands are handled before their PUBACK is sent; every PUBACK (and the status document's) is a link rate sample.
 */
import { encodeStatus, offlineStatus, onlineStatus, type StatusBody } from '../../protocol/status.ts';
import { AckBatch } from './ack-batch.ts';
import { ByteBudget } from './byte-budget.ts';
import { type Clock, systemClock, type Timer } from './clock.ts';
import { EdgeConnection } from './edge-connection.ts';
import { InflightWindow, type InflightEntry } from './inflight-window.ts';
import { LinkEstimator } from './link-estimator.ts';
import { LinkProbe } from './link-probe.ts';
import { PublishDenials, refusalCode, UnroutedAcks } from './publish-denials.ts';
import type { PublisherOptions } from './publisher-options.ts';
import { StoreErrors } from './store-errors.ts';

export type { PublisherEvents, PublisherOptions } from './publisher-options.ts';

export class Publisher {
  readonly #o: PublisherOptions;
  readonly #clock: Clock;
  readonly #connection: EdgeConnection;
  readonly #probe: LinkProbe;
  readonly #window: InflightWindow;
  readonly #budget: ByteBudget;
  readonly #acks: AckBatch;
  readonly #denials: PublishDenials;
  readonly link = new LinkEstimator();
  #wakeTimer: Timer | null = null;
  #stopping = false;
  readonly #unrouted = new UnroutedAcks();

  constructor(options: PublisherOptions) {
    this.#o = options;
    const clock = options.clock ?? systemClock;
    this.#clock = clock;
    const { deviceId, topics, link, log } = options;
    this.#budget = new ByteBudget(link.bytesPerSecond, link.bytesPerDay, () => clock.wallNow());
    const errors = new StoreErrors(
      log,
      (write) => options.events.onStoreError?.(write),
      () => clock.now(),
    );
    this.#acks = new AckBatch({ clock, flush: (sequences) => options.outbox.ack(sequences), errors });
    this.#denials = new PublishDenials({ clock, log, holdMs: link.backoffMaxMs, onDenied: options.events.onPublishDenied?.bind(options.events) });
    this.#window = new InflightWindow({ size: link.inflight, timeoutMs: link.pubackTimeoutMs, clock, onTimeout: (entry) => this.#onTimeout(entry) });
    this.#probe = new LinkProbe({ estimator: this.link, clock, intervalMs: options.probeIntervalMs ?? 0, sendPing: () => this.#connection.client?.sendPing() });
    this.#connection = new EdgeConnection({
      mqtt: options.mqtt,
      clientId: options.mqtt.clientId ?? `splitoculo-edge-${deviceId}`,
      link,
      will: { topic: topics.status(deviceId), payload: encodeStatus(offlineStatus(deviceId)) },
      log,
      clock,
      ...(options.random && { random: options.random }),
      onConnect: () => this.#onConnect(),
      onClose: (wasConnected) => this.#onClose(wasConnected),
      onMessage: (topic, payload) => this.#route(topic, payload),
      onPacket: (direction, packet) => {
        if (direction === 'sent') return this.#probe.packetSent(packet.cmd);
        this.#probe.packetReceived(packet.cmd);
        this.#unrouted.note(packet);
      },
      onOversize: () => this.#o.events.onOversize?.(),
    });
  }

  get connected(): boolean {
    return this.#connection.connected;
  }

  /** Frames the broker refuses (publish-denials.ts), for the status document; null when none. */
  get denied() {
    return this.#denials.state;
  }

  get inflight(): number {
    return this.#window.count;
  }

  /** Reconnects started after losing the broker. */
  get reconnects(): number {
    return this.#connection.reconnects;
  }

  /** Connects in the background; throws a settings error for unreadable TLS or password files. */
  start(): void {
    this.#connection.start();
  }

  #route(topic: string, payload: Buffer): void {
    const { deviceId, topics, events } = this.#o;
    const parsed = topics.parse(topic);
    if (parsed?.deviceId === deviceId && parsed.kind === 'answer') events.onAnswer(payload);
    else if (parsed?.deviceId === deviceId && parsed.kind === 'command') events.onCommand(payload);
    else if (!parsed) events.onOther?.(topic, payload);
  }

  #onConnect(): void {
    const { deviceId, topics, log } = this.#o;
    this.#o.events.onLinkState(true);
    this.link.reset(); // a new connection may take another path
    this.#probe.start();
    this.#denials.reconnected();
    this.#unrouted.clear();
    this.#connection.client?.subscribe([topics.answer(deviceId), topics.command(deviceId), ...(this.#o.extraTopics ?? [])], { qos: 1 }, (error) => {
      if (error) log.warn({ err: error.message }, 'subscribe failed');
    });
    this.publishStatus();
    this.#o.events.onConnected?.();
    this.pump();
  }

  /** Publishes outside the frame queue (previews, discovery); false when not connected (nothing is queued). */
  publishOther(topic: string, payload: Buffer, options: { retain: boolean }): boolean {
    const client = this.#connection.client;
    if (!client) return false;
    client.publish(topic, payload, { qos: 1, retain: options.retain }, (error) => {
      if (error) this.#o.log.warn({ topic, err: error.message }, 'publish failed');
    });
    return true;
  }

  #onClose(wasConnected: boolean): void {
    if (wasConnected) this.#o.events.onLinkState(false);
    this.#probe.stop();
    this.#window.clear(); // everything unacknowledged is sent again after reconnecting
  }

  /** Publishes the retained online document (at connect, and after every command). */
  publishStatus(extra: Partial<StatusBody> = {}): void {
    const client = this.#connection.client;
    if (!client) return;
    const { deviceId, topics, log } = this.#o;
    let payload: Buffer;
    try {
      payload = encodeStatus(onlineStatus(deviceId, { ...this.#o.status(), ...extra }));
    } catch (error) {
      // A body outside protocol/status.ts's schema is a bug: logged loudly, and the daemon keeps serving.
      log.error({ err: (error as Error).message }, 'status document not published');
      return;
    }
    const started = this.#clock.now();
    const bytesAhead = this.#window.bytes;
    // Its PUBACK is the link's first rate sample after connecting, before any frame.
    client.publish(topics.status(deviceId), payload, { qos: 1, retain: true }, (error) => {
      if (!error) this.link.observePublish(payload.length, this.#clock.now() - started, bytesAhead);
    });
  }

  /** Send what the window and the budget allow. Cheap to call often. */
  pump(): void {
    if (this.#stopping || !this.#connection.client) return;
    const room = this.#window.room;
    if (room === 0) return;
    const hold = this.#denials.holdMs();
    if (hold > 0) {
      this.#wakeAfter(hold);
      return;
    }
    // Acknowledged frames stay in the outbox until the next ack flush: never resend those.
    const frames = this.#o.outbox.peek(room, new Set([...this.#window.sequences(), ...this.#acks.pending]));
    for (const frame of frames) {
      const wait = this.#budget.delayFor(frame.bytes.length);
      if (wait > 0) {
        this.#wakeAfter(wait);
        return;
      }
      this.#budget.spend(frame.bytes.length);
      this.#o.events.onSending?.(frame.frameId); // before the bytes leave: an answer can only follow
      this.#send(frame.sequence, frame.bytes);
    }
  }

  #send(sequence: number, bytes: Uint8Array): void {
    const client = this.#connection.client!;
    const entry = this.#window.add(sequence, bytes.length);
    client.publish(this.#o.topics.frame(this.#o.deviceId), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { qos: 1 }, (error, packet) => {
      // An error leaves the frame queued: the timeout or the reconnect sends it again; a refusal settles it (held back, offered again).
      // After stop() the outbox may be closed; the frame then simply stays queued.
      if (this.#stopping) return;
      const refusal = error ?? this.#unrouted.take(packet); // 0x10 included: nobody has the frame (publish-denials.ts)
      if (refusal) {
        this.#refused(entry, refusal);
        return;
      }
      this.#window.settle(entry);
      this.#denials.accepted();
      this.#acks.add(sequence);
      const latency = this.#clock.now() - entry.sentAt;
      this.link.observePublish(entry.bytes, latency, entry.bytesAhead);
      this.#o.events.onPublished(sequence, entry.bytes, latency);
      this.pump();
    });
  }

  #refused(entry: InflightEntry, error: Error): void {
    const code = refusalCode(error);
    if (code === null) return;
    this.#window.settle(entry);
    this.#denials.denied(code, error.message);
    this.pump();
  }

  #onTimeout(entry: InflightEntry): void {
    this.#acks.errors?.guard('attempt', () => this.#o.outbox.markAttempt(entry.sequence)); // a lost count only (a crash loses some too)
    this.#o.events.onPublishTimeout(entry.sequence);
    this.#o.log.warn({ sequence: entry.sequence, timeoutMs: this.#o.link.pubackTimeoutMs }, 'no PUBACK in time; the frame stays queued and is sent again');
    this.pump();
  }

  /** Removes the acknowledged frames from the outbox now (else within ack-batch.ts's ACK_FLUSH_MS). */
  flushAcks(): void {
    this.#acks.flush();
  }

  /** The byte budget said wait: pump again then (one wake-up at a time). */
  #wakeAfter(ms: number): void {
    if (this.#wakeTimer) return;
    this.#wakeTimer = this.#clock.setTimeout(() => {
      this.#wakeTimer = null;
      this.pump();
    }, ms);
  }

  /** Publishes the offline document (bounded wait), flushes the acks and closes. The frames in flight stay queued. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#wakeTimer) this.#clock.clearTimeout(this.#wakeTimer);
    this.#wakeTimer = null;
    this.#probe.stop();
    this.#window.clear();
    this.#acks.flush(true); // one try: frames whose ack cannot be written stay queued (sent again: a duplicate)
    const { deviceId, topics } = this.#o;
    await this.#connection.stop((client) => client.publishAsync(topics.status(deviceId), encodeStatus(offlineStatus(deviceId, new Date())), { qos: 1, retain: true }));
  }
}
