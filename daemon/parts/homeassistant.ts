/**
 * Home Assistant MQTT discovery on the daemon's own broker connection
 * (`homeassistant.enabled`). At every connect, and whenever HA announces
 * itself online on `<discovery prefix>/status`, the retained discovery
 * configs are published (homeassistant-discovery.ts); values from HA's
 * command entities become the daemon's ordinary commands, so they are
 * validated, answered in `lastCommand` and remembered like any other.
 *
 * Invariant: every retained topic this part publishes is recorded in the
 * state file before the daemon forgets it, so turning discovery off (or an
 * entity going away) clears it with an empty retained message at the next
 * connect, even across restarts.
 */
import type { Logger } from 'pino';
import type { AnswerEnvelope } from '../../protocol/answer.ts';
import type { EdgeCommand } from '../../protocol/commands.ts';
import type { EdgeConfig } from '../config/schema.ts';
import { cutToCharacters, discoveryMessages, HA_COMMAND_ENTITIES, haAnswerTopic, haCommandTopic, type HaCommandEntity } from './homeassistant-discovery.ts';

export interface HomeAssistantDeps {
  config: Pick<EdgeConfig, 'homeassistant' | 'device' | 'mqtt'>;
  /** The topics published before (the state file), and where to record them. */
  published: { get(): readonly string[]; set(topics: readonly string[]): void };
  /** Publishes on the daemon's connection; false while not connected. */
  publish: (topic: string, payload: Buffer, retain: boolean) => boolean;
  /** The daemon's command handler, as if the command had come on its command topic. */
  command: (payload: Buffer) => void;
  model: () => string | undefined;
  log: Pick<Logger, 'info' | 'warn'>;
}

export class HomeAssistant {
  readonly #deps: HomeAssistantDeps;
  readonly #byTopic: Map<string, HaCommandEntity>;

  constructor(deps: HomeAssistantDeps) {
    this.#deps = deps;
    const { mqtt, device } = deps.config;
    this.#byTopic = new Map(HA_COMMAND_ENTITIES.map((entity) => [haCommandTopic(mqtt.topicPrefix, device.id, entity), entity]));
  }

  get enabled(): boolean {
    return this.#deps.config.homeassistant.enabled;
  }

  get #birthTopic(): string {
    return `${this.#deps.config.homeassistant.prefix}/status`;
  }

  /** What to subscribe to: the command entities' topics and HA's birth topic; nothing when disabled. */
  topics(): string[] {
    return this.enabled ? [...this.#byTopic.keys(), this.#birthTopic] : [];
  }

  /** After each connect: publish the configs, or clear what an earlier run published. */
  connected(): void {
    const { config, log } = this.#deps;
    const before = new Set(this.#deps.published.get());
    const now = this.enabled ? this.#publishConfigs() : [];
    const stale = [...before].filter((topic) => !now.includes(topic));
    for (const topic of stale) this.#deps.publish(topic, Buffer.alloc(0), true);
    // Written only when it changed: a flapping link must not cost a state-file write per reconnect.
    if (stale.length > 0 || now.some((topic) => !before.has(topic))) this.#deps.published.set(now);
    if (stale.length > 0) log.info({ removed: stale.length }, 'Home Assistant discovery cleared');
    if (now.length > 0) log.info({ entities: now.length - 1, prefix: config.homeassistant.prefix }, 'Home Assistant discovery published');
  }

  /** A message on a subscribed topic: HA's birth, or a command entity's value. */
  receive(topic: string, payload: Buffer): void {
    if (!this.enabled) return;
    if (topic === this.#birthTopic) {
      if (payload.toString() === 'online') this.#publishConfigs();
      return;
    }
    const entity = this.#byTopic.get(topic);
    if (entity) this.#deps.command(Buffer.from(JSON.stringify(toCommand(entity, payload.toString()))));
  }

  /** A new answer: the last-answer entity's state (retained, so HA shows it after its own restart). */
  answer(answer: AnswerEnvelope): void {
    if (!this.enabled) return;
    const { mqtt, device } = this.#deps.config;
    const text = answer.text ?? `error: ${answer.error?.code ?? 'unknown'}`;
    const state = {
      answer: cutToCharacters(text),
      attributes: {
        text: answer.text ?? null,
        prompt: answer.prompt,
        error: answer.error ?? null,
        frame_id: answer.frameId,
        request_id: answer.requestId ?? null,
        answered_at: answer.answeredAt,
      },
    };
    this.#deps.publish(haAnswerTopic(mqtt.topicPrefix, device.id), Buffer.from(JSON.stringify(state)), true);
  }

  /** Publishes every config; returns the retained topics now owned (configs and the answer state). */
  #publishConfigs(): string[] {
    const { config } = this.#deps;
    const messages = discoveryMessages({
      discoveryPrefix: config.homeassistant.prefix,
      topicPrefix: config.mqtt.topicPrefix,
      deviceId: config.device.id,
      name: config.homeassistant.name ?? config.device.id,
      model: this.#deps.model(),
    });
    for (const { topic, config: payload } of messages) this.#deps.publish(topic, Buffer.from(JSON.stringify(payload)), true);
    return [...messages.map((m) => m.topic), haAnswerTopic(config.mqtt.topicPrefix, config.device.id)];
  }
}

/**
 * HA's plain values as the daemon's commands. A value that does not fit
 * becomes a command the schema refuses, so it is counted and answered in
 * `lastCommand` like any malformed command.
 */
export function toCommand(entity: HaCommandEntity, value: string): EdgeCommand | Record<string, unknown> {
  switch (entity) {
    case 'capture':
      return { command: 'capture' };
    case 'prompt':
      // An empty text is "no prompt of our own": the worker's default.
      return { command: 'set-prompt', prompt: value === '' ? null : value };
    case 'paused':
      if (value === 'ON') return { command: 'pause' };
      if (value === 'OFF') return { command: 'resume' };
      return { command: 'pause', value };
    case 'interval': {
      const seconds = value.trim() === '' ? Number.NaN : Number(value);
      return { command: 'set-interval', intervalMs: Number.isFinite(seconds) ? Math.round(seconds * 1000) : value };
    }
  }
}
