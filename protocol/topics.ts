/**
 * The MQTT topic map. Everything routes by topic and payload, so MQTT 3.1.1
 * brokers work; MQTT 5 properties are only ever extras.
 *
 *   <prefix>/<device>/frame    edge -> cloud, QoS 1, binary wire frame
 *   <prefix>/<device>/answer   cloud -> edge and integrators, QoS 1, answer JSON
 *   <prefix>/<device>/status   edge, retained; the MQTT will sets it offline
 *   <prefix>/<device>/command  operator -> edge, command JSON
 *   <prefix>/<device>/preview  edge -> operator, QoS 1, not retained: one JPEG
 *                              (at most PREVIEW_MAX_BYTES, longest side at most
 *                              PREVIEW_MAX_SIDE, protocol/limits.ts), only after
 *                              a `preview` command
 */
import { assertDeviceId, deviceIdProblem } from './device-id.ts';
import { UserError } from './errors.ts';

export const DEFAULT_TOPIC_PREFIX = 'splitoculo/v1';
export const TOPIC_KINDS = ['frame', 'answer', 'status', 'command', 'preview'] as const;
export type TopicKind = (typeof TOPIC_KINDS)[number];

export interface TopicQos {
  frame: 1;
  answer: 1;
  status: 1;
  command: 1;
  preview: 1;
}

export class TopicError extends UserError {
  override readonly name = 'TopicError';
}

export function topicPrefixProblem(prefix: string): string | null {
  if (prefix.length === 0) return 'must not be empty';
  if (/[+#\0]/.test(prefix)) return `${JSON.stringify(prefix)} must not contain '+', '#' or NUL`;
  if (prefix.startsWith('$')) return `${JSON.stringify(prefix)} must not start with '$' (reserved for the broker)`;
  if (prefix.split('/').some((level) => level.length === 0)) return `${JSON.stringify(prefix)} must not have empty levels (leading, trailing or double '/')`;
  return null;
}

export class TopicMap {
  readonly prefix: string;

  constructor(prefix: string = DEFAULT_TOPIC_PREFIX) {
    const problem = topicPrefixProblem(prefix);
    if (problem) throw new TopicError(`topic prefix: ${problem}`);
    this.prefix = prefix;
  }

  topic(kind: TopicKind, deviceId: string): string {
    assertDeviceId(deviceId);
    return `${this.prefix}/${deviceId}/${kind}`;
  }

  frame(deviceId: string): string {
    return this.topic('frame', deviceId);
  }

  answer(deviceId: string): string {
    return this.topic('answer', deviceId);
  }

  status(deviceId: string): string {
    return this.topic('status', deviceId);
  }

  command(deviceId: string): string {
    return this.topic('command', deviceId);
  }

  preview(deviceId: string): string {
    return this.topic('preview', deviceId);
  }

  /** Subscription filter for one kind across every device, optionally as an MQTT 5 shared subscription. */
  allDevices(kind: TopicKind, sharedGroup?: string): string {
    const filter = `${this.prefix}/+/${kind}`;
    if (sharedGroup === undefined) return filter;
    if (!/^[A-Za-z0-9._-]+$/.test(sharedGroup)) throw new TopicError(`shared group ${JSON.stringify(sharedGroup)}: letters, digits, '.', '_' and '-' only`);
    return `$share/${sharedGroup}/${filter}`;
  }

  /** Splits a topic of this map into device and kind; null for anything else. */
  parse(topic: string): { deviceId: string; kind: TopicKind } | null {
    if (!topic.startsWith(`${this.prefix}/`)) return null;
    const rest = topic.slice(this.prefix.length + 1).split('/');
    if (rest.length !== 2) return null;
    const [deviceId, kind] = rest as [string, string];
    if (deviceIdProblem(deviceId) !== null) return null;
    if (!(TOPIC_KINDS as readonly string[]).includes(kind)) return null;
    return { deviceId, kind: kind as TopicKind };
  }
}
