/**
 * What the publisher (publisher.ts) is given: its settings and the events it
 * reports to the daemon's parts (metrics, answers, commands, status).
 */
import type { Logger } from 'pino';
import type { StatusBody } from '../../protocol/status.ts';
import type { TopicMap } from '../../protocol/topics.ts';
import type { EdgeConfig } from '../config/schema.ts';
import type { Outbox } from '../outbox/outbox.ts';
import type { Clock } from './clock.ts';
import type { LinkSettings } from './profiles.ts';
import type { StoreWrite } from './store-errors.ts';

export interface PublisherEvents {
  onPublished(sequence: number, bytes: number, latencyMs: number): void;
  onPublishTimeout(sequence: number): void;
  /** The broker sent a packet larger than the edge reads (a message skipped and acknowledged, else the connection closed). */
  onOversize?(): void;
  /** An outbox write from a timer failed (store-errors.ts: SQLITE_BUSY, I/O); acks are retried, an attempt count is skipped. */
  onStoreError?(write: StoreWrite): void;
  /** The broker refused a frame (MQTT 5 PUBACK reason >= 0x80, e.g. 0x87 not authorized): it stays queued (publish-denials.ts). */
  onPublishDenied?(code: number, reason: string): void;
  /** A frame is about to be published (answers are accepted only for such ids). */
  onSending?(frameId: string): void;
  onLinkState(connected: boolean): void;
  /** Must persist synchronously: the PUBACK follows its return. */
  onAnswer(payload: Buffer): void;
  onCommand(payload: Buffer): void;
  /** A message on one of `extraTopics` (Home Assistant's command and birth topics). */
  onOther?(topic: string, payload: Buffer): void;
  /** After each connect, once subscribed and the status is out (Home Assistant discovery). */
  onConnected?(): void;
}

export interface PublisherOptions {
  mqtt: EdgeConfig['mqtt'];
  deviceId: string;
  topics: TopicMap;
  outbox: Outbox;
  link: LinkSettings;
  log: Logger;
  events: PublisherEvents;
  /** The retained online status document's body (protocol/status.ts). */
  status: () => StatusBody;
  /** More subscriptions (exact topics or filters) whose messages go to events.onOther. */
  extraTopics?: readonly string[];
  /** Round-trip probes (MQTT PINGREQ) while connected; 0: only at connect. */
  probeIntervalMs?: number;
  /** Timers and durations (tests: mocked time). */
  clock?: Clock;
  /** Backoff jitter, uniform in [0, 1). */
  random?: () => number;
}
