/**
 * The operator console, a part of the worker process (started after the
 * worker, stopped before it): history store, MQTT link, fleet view, event
 * stream and HTTP server, wired together here. Answers flow
 * link -> fleet -> history + event stream; commands flow HTTP -> validation
 * (protocol/commands.ts) -> link. An ask gets a fresh request id, and the
 * answer that echoes it is matched to the ask (time from ask to answer).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { deviceIdProblem } from '../../protocol/device-id.ts';
import { parseCommand } from '../../protocol/commands.ts';
import type { TopicMap } from '../../protocol/topics.ts';
import type { CloudConfig } from '../config/schema.ts';
import { ConsoleAccess, readTokenFile } from './access.ts';
import { historyPathOf } from './console-check.ts';
import { ConsoleLink } from './console-link.ts';
import { ConsoleMetrics } from './console-metrics.ts';
import { consoleConnection } from './console-settings.ts';
import { EventStream } from './event-stream.ts';
import { Fleet } from './fleet.ts';
import { HistoryStore } from './history-store.ts';
import { type ConsoleBackend, ConsoleHttpServer, ConsoleRequestError } from './http-server.ts';

/** A fresh request id: time and randomness, within protocol's [A-Za-z0-9._:-]{1,64}. */
export function newRequestId(): string {
  return `c-${Date.now().toString(36)}-${randomBytes(5).toString('hex')}`;
}

const ASKS_REMEMBERED = 256;

export interface ConsoleAt {
  workerId: string;
  topics: TopicMap;
  /** The embedded broker's port, when there is one (the default broker of the console's connection). */
  brokerPort: number | null;
  log: Logger;
  /** The worker's metrics registry: the console's counters are served with the worker's. */
  registry?: Registry;
}

export class OperatorConsole implements ConsoleBackend {
  readonly #config: CloudConfig;
  readonly #at: ConsoleAt;
  readonly #events = new EventStream();
  readonly #fleet: Fleet;
  readonly #asks = new Map<string, { device: string; sentAt: number }>();
  #history: HistoryStore | null = null;
  #link: ConsoleLink | null = null;
  #server: ConsoleHttpServer | null = null;
  /** Payloads refused (too large, not JSON, not a JPEG ...), by kind. */
  readonly refused = { status: 0, answer: 0, preview: 0 };
  readonly #metrics: ConsoleMetrics | null;
  port: number | null = null;
  url: string | null = null;

  constructor(config: CloudConfig, at: ConsoleAt) {
    this.#config = config;
    this.#at = at;
    this.#metrics = at.registry ? new ConsoleMetrics(at.registry, () => ({ clients: this.#events.clients, dropped: this.#events.dropped })) : null;
    this.#fleet = new Fleet(config.console.maxDevices, (event) => {
      if (event.type === 'device') this.#events.send('device', event.device);
      else if (event.type === 'preview') this.#events.send('preview', { device: event.device, at: event.at, bytes: event.bytes });
    });
  }

  get connected(): boolean {
    return this.#link?.connected ?? false;
  }

  /** Starts everything, or nothing: a part that fails closes the ones already open (a port in use leaves no connection behind). */
  async start(): Promise<void> {
    try {
      await this.#start();
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  async #start(): Promise<void> {
    const c = this.#config.console;
    const { log, topics } = this.#at;
    const access = new ConsoleAccess(c.tokenFile === undefined ? null : readTokenFile(c.tokenFile));
    this.#history = new HistoryStore(historyPathOf(this.#config), { perDevice: c.historyPerDevice, total: c.historyTotal });
    const worker = this.#config.mqtt;
    const own = c.mqtt ?? {};
    const settings = consoleConnection(this.#config, this.#at.brokerPort);
    this.#link = new ConsoleLink({
      settings,
      clientId: own.clientId ?? `splitoculo-console-${this.#at.workerId}`.slice(0, 128),
      protocol: worker.protocol,
      keepaliveSeconds: worker.keepaliveSeconds,
      topics,
      log,
      onMessage: (kind, device, payload) => this.#onMessage(kind, device, payload),
    });
    await this.#link.start();
    this.#server = new ConsoleHttpServer(this, access, this.#events);
    this.port = await this.#server.listen(c.port ?? 0, c.host);
    this.url = `http://${c.host.includes(':') ? `[${c.host}]` : c.host}:${this.port}/`;
    log.info({ url: this.url, token: !access.open }, 'console listening');
  }

  #onMessage(kind: 'status' | 'answer' | 'preview', device: string, payload: Buffer): void {
    let problem: string | null = null;
    if (kind === 'status') problem = this.#fleet.status(device, payload)?.refused ?? null;
    else if (kind === 'preview') problem = this.#fleet.preview(device, payload)?.refused ?? null;
    else {
      const result = this.#fleet.answer(device, payload);
      if ('refused' in result) problem = result.refused;
      else {
        try {
          this.#history?.add(result.row);
        } catch (error) {
          // The history is an add-on: a full disk or a busy file must not take the worker (and its frames) down.
          problem = `history not written (${(error as Error).message})`;
        }
        const ask = result.row.requestId === null ? undefined : this.#asks.get(result.row.requestId);
        if (ask?.device === device) this.#asks.delete(result.row.requestId!);
        this.#events.send('answer', { ...result.row, askMs: ask?.device === device ? result.row.at - ask.sentAt : null });
      }
    }
    if (problem !== null) {
      const count = ++this.refused[kind];
      this.#metrics?.refused.inc({ kind });
      // A device sending garbage must not flood the log: the first refusal of a kind and every 100th after.
      if (count === 1 || count % 100 === 0) this.#at.log.warn({ device, kind, reason: problem, refused: count }, 'console: message refused');
    }
  }

  /** The worker's hook: a frame it took, for the bytes and codec shown in the history. */
  frameTaken(device: string, frameId: string, bytes: number, codec: string): void {
    this.#fleet.frameTaken(device, frameId, bytes, codec);
  }

  devices() {
    return this.#fleet.list();
  }

  device(id: string) {
    return this.#fleet.get(id);
  }

  history(id: string, limit: number) {
    return this.#history?.recent(id, limit) ?? [];
  }

  preview(id: string) {
    return this.#fleet.previewOf(id);
  }

  async command(device: string, body: unknown): Promise<{ id: string | null }> {
    const problem = deviceIdProblem(device);
    if (problem !== null) throw new ConsoleRequestError(`device id: ${problem}`);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ConsoleRequestError('command: expected a JSON object');
    const draft = { ...(body as Record<string, unknown>) };
    if ((draft.command === 'ask' || draft.command === 'preview') && draft.id === undefined) draft.id = newRequestId();
    let payload: Buffer;
    try {
      const command = parseCommand(JSON.stringify(draft)); // the daemon's own schema: what it would refuse is refused here
      payload = Buffer.from(JSON.stringify(command));
    } catch (error) {
      throw new ConsoleRequestError((error as Error).message);
    }
    try {
      await this.#link!.command(device, payload);
    } catch (error) {
      // Under the deploy ACL a worker's own identity may not write commands (MQTT 5 PUBACK 0x87): say which setting fixes it.
      const code = (error as { code?: unknown }).code;
      const refused = typeof code === 'number' ? ` (reason code 0x${code.toString(16)}); console.mqtt needs an identity allowed to write commands` : '';
      throw new ConsoleRequestError(`the broker did not take the command: ${(error as Error).message}${refused}`, 502);
    }
    const id = typeof draft.id === 'string' ? draft.id : null;
    if (draft.command === 'ask' && id !== null) {
      this.#asks.set(id, { device, sentAt: Date.now() });
      while (this.#asks.size > ASKS_REMEMBERED) this.#asks.delete(this.#asks.keys().next().value!);
    }
    this.#metrics?.commands.inc({ command: String(draft.command) });
    this.#events.send('command', { device, command: draft.command, id, at: Date.now() });
    return { id };
  }

  async stop(): Promise<void> {
    this.#events.close();
    await this.#server?.close();
    await this.#link?.stop();
    this.#history?.close();
    this.#server = null;
    this.#link = null;
    this.#history = null;
  }
}
