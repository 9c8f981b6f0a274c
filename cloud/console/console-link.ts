/**
 * The console's MQTT connection, opened by runtime/mqtt-connection.ts like
 * every other: it reads every device's status (retained), answers and
 * previews, and publishes commands. It is a connection of its own, not the
 * worker's, because under the deploy ACL the worker may only read frames and
 * write answers: `console.mqtt` gives it the operator's credentials (fields
 * left out are the worker's). A clean session: the console wants the present
 * (retained status, then what comes), not a backlog from while it was away.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { isUserError } from '../../protocol/errors.ts';
import type { TopicMap } from '../../protocol/topics.ts';
import { BrokerError, clientOptions, fallbackProtocol, initialProtocol, type MqttConnectionSettings, type MqttProtocol, type ProtocolSetting, redactUrl } from '../../runtime/mqtt-connection.ts';

export interface LinkOptions {
  settings: MqttConnectionSettings;
  clientId: string;
  protocol: ProtocolSetting;
  keepaliveSeconds: number;
  topics: TopicMap;
  log: Logger;
  onMessage(kind: 'status' | 'answer' | 'preview', deviceId: string, payload: Buffer): void;
}

const KINDS = ['status', 'answer', 'preview'] as const;
const CONNECT_TIMEOUT_MS = 15_000;

export class ConsoleLink {
  readonly #o: LinkOptions;
  #client: MqttClient | null = null;
  #protocol: MqttProtocol;

  constructor(options: LinkOptions) {
    this.#o = options;
    this.#protocol = initialProtocol(options.protocol);
  }

  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  /** Resolves when connected and subscribed the first time; reconnects by itself after. */
  async start(): Promise<void> {
    for (;;) {
      try {
        await this.#connect();
        return;
      } catch (error) {
        const next = fallbackProtocol(this.#o.protocol, this.#protocol, error);
        // One line naming the setting (credentials refused, nothing listening), not an internal error.
        if (next === null) throw isUserError(error) ? error : new BrokerError(`console.mqtt (${redactUrl(this.#o.settings.url)}): ${(error as Error).message}`);
        this.#protocol = next;
      }
    }
  }

  #connect(): Promise<void> {
    const { settings, topics, log } = this.#o;
    const options = clientOptions({
      settings,
      clientId: this.#o.clientId,
      protocol: this.#protocol,
      keepaliveSeconds: this.#o.keepaliveSeconds,
      reconnectPeriodMs: 2000,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      resubscribe: false,
    });
    const client = mqtt.connect(settings.url, { ...options, clean: true });
    this.#client = client;
    client.on('message', (topic, payload) => {
      const route = topics.parse(topic);
      const kind = KINDS.find((k) => k === route?.kind);
      if (route && kind) this.#o.onMessage(kind, route.deviceId, payload);
    });
    const subscribe = () =>
      client.subscribeAsync(
        KINDS.map((kind) => topics.allDevices(kind)),
        { qos: 1 },
      );
    return new Promise<void>((resolve, reject) => {
      // Settled once: a timeout that fires after a successful start must not end the (reconnecting) client.
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        client.removeAllListeners();
        client.end(true);
        reject(error);
      };
      client.once('error', fail);
      client.once('connect', () => {
        client.removeListener('error', fail);
        client.on('error', (error) => log.warn({ err: error.message }, 'console MQTT connection error'));
        client.on('connect', () => void subscribe().catch((error: Error) => log.warn({ err: error.message }, 'console resubscribe failed')));
        subscribe().then(
          () => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            resolve();
          },
          (error: Error) => fail(new BrokerError(`console.mqtt (${redactUrl(settings.url)}): subscribe refused (${error.message})`)),
        );
      });
      const timer = setTimeout(() => {
        if (!client.connected) fail(new BrokerError(`console.mqtt (${redactUrl(settings.url)}): no connection within ${CONNECT_TIMEOUT_MS / 1000} s`));
      }, CONNECT_TIMEOUT_MS).unref();
    });
  }

  /** Publishes a command (QoS 1, not retained); rejects when the broker is not reachable. */
  async command(deviceId: string, payload: Buffer): Promise<void> {
    const client = this.#client;
    if (!client?.connected) throw new BrokerError('console: not connected to the broker; try again');
    await client.publishAsync(this.#o.topics.command(deviceId), payload, { qos: 1 });
  }

  async stop(): Promise<void> {
    const client = this.#client;
    this.#client = null;
    if (client) await client.endAsync(true).catch(() => undefined);
  }
}
