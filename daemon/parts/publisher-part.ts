/**
 * The publisher as a part: drains the outbox to the broker, brings answers
 * and commands in (to the answer inbox and the command handler), and counts
 * what the link does. The Publisher is made at start, when the outbox
 * (listed before it) is open.
 */
import type { Logger } from 'pino';
import { TopicMap } from '../../protocol/topics.ts';
import type { StatusBody } from '../../protocol/status.ts';
import type { EdgeConfig } from '../config/schema.ts';
import type { Part } from '../controller.ts';
import type { LinkEstimate } from '../link/link-estimator.ts';
import { linkSettings } from '../link/profiles.ts';
import type { DenialState } from '../link/publish-denials.ts';
import { Publisher } from '../link/publisher.ts';
import type { EdgeMetrics } from '../ops/metrics.ts';
import type { Progress } from '../ops/watchdog.ts';
import type { Outbox } from '../outbox/outbox.ts';

export interface PublisherPartDeps {
  config: EdgeConfig;
  outbox: () => Outbox;
  metrics: EdgeMetrics;
  log: Logger;
  progress: Progress;
  status: () => StatusBody;
  /** Must persist synchronously: the PUBACK follows their return. */
  answers: { receive(payload: Buffer): void };
  /** Each frame id as it is published: the answers the inbox will accept. */
  sending?: (frameId: string) => void;
  commands: { receive(payload: Buffer): void };
  /** Subscriptions beyond answers and commands, and what receives their messages and hears of each connect. */
  others?: { topics: () => readonly string[]; receive(topic: string, payload: Buffer): void; connected(): void };
}

export class PublisherPart implements Part {
  readonly #deps: PublisherPartDeps;
  #publisher: Publisher | null = null;

  constructor(deps: PublisherPartDeps) {
    this.#deps = deps;
  }

  /** Frames the broker refuses; null when none or not running. */
  get denied(): DenialState | null {
    return this.#publisher?.denied ?? null;
  }

  /** The link estimate; undefined while not running. */
  get link(): LinkEstimate | undefined {
    return this.#publisher?.link.estimate;
  }

  start(): void {
    const { config, metrics, log, progress } = this.#deps;
    this.#publisher = new Publisher({
      mqtt: config.mqtt,
      deviceId: config.device.id,
      topics: new TopicMap(config.mqtt.topicPrefix),
      outbox: this.#deps.outbox(),
      link: linkSettings(config.mqtt),
      log,
      status: this.#deps.status,
      probeIntervalMs: config.encoding.probeIntervalSeconds * 1000,
      extraTopics: this.#deps.others?.topics() ?? [],
      events: {
        onPublished: (sequence, bytes, ms) => {
          log.debug({ sequence, ms: Math.round(ms) }, 'frame acknowledged');
          metrics.published.inc();
          metrics.publishedBytes.inc(bytes);
          metrics.publishSeconds.observe(ms / 1000);
          progress.mark();
        },
        onPublishTimeout: () => metrics.publishTimeouts.inc(),
        onSending: (frameId) => this.#deps.sending?.(frameId),
        onOversize: () => metrics.oversizePackets.inc(),
        onStoreError: (write) => metrics.outboxWriteErrors.inc({ write }),
        onPublishDenied: (_code, reason) => {
          metrics.publishDenied.inc({ reason });
          // The status says at once why frames are not leaving (then at its usual interval).
          if (this.#publisher?.denied?.frames === 1) this.#publisher.publishStatus();
        },
        onLinkState: (up) => metrics.linkUp.set(up ? 1 : 0),
        onAnswer: (payload) => this.#deps.answers.receive(payload),
        onCommand: (payload) => this.#deps.commands.receive(payload),
        onOther: (topic, payload) => this.#deps.others?.receive(topic, payload),
        onConnected: () => this.#deps.others?.connected(),
      },
    });
    this.#publisher.start();
  }

  async stop(): Promise<void> {
    await this.#publisher?.stop();
    this.#publisher = null;
  }

  /** Send what the window allows; nothing while not running. */
  pump(): void {
    this.#publisher?.pump();
  }

  publishStatus(): void {
    this.#publisher?.publishStatus();
  }

  /** Publishes outside the frame queue; false while not connected. */
  publishOther(topic: string, payload: Buffer, options: { retain: boolean }): boolean {
    return this.#publisher?.publishOther(topic, payload, options) ?? false;
  }

  get connected(): boolean {
    return this.#publisher?.connected ?? false;
  }
}
