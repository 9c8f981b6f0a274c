/**
 * One way to open an MQTT connection, for the edge daemon and the cloud
 * worker alike: TLS from files, credentials from files only (SECURITY.md:
 * nothing secret in a config value, an environment variable or a flag),
 * will, client id, MQTT 5 or 3.1.1, and MQTT 5's maximum packet size and
 * session properties. Both programs run persistent sessions (clean: false)
 * and never use mqtt.js's offline queue: their own stores are the queues.
 *
 * What differs between the programs is passed in (reconnect policy, timeouts,
 * will, protocol); how the options are made is written once, here.
 */
import { readFileSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import type { Duplex } from 'node:stream';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { writeToStream } from 'mqtt-packet';
import { UserError } from '../protocol/errors.ts';
import { OversizeFilteredStream, type OversizeOutcome } from './oversize-publish.ts';

/**
 * mqtt-packet's writer (the one mqtt.js uses) otherwise makes a 2-byte Buffer
 * for each of the 65,536 16-bit numbers the first time it writes a packet:
 * 7 MB of the edge's 29 MB V8 heap, for the whole run (heap snapshot,
 * bench/results/footprint.md). Written when needed instead: one 2-byte
 * allocation per packet id or length field, a few per frame.
 */
writeToStream.cacheNumbers = false;

/** A broker that answered and refused (protocol, credentials, subscription), or one that cannot be served. */
export class BrokerError extends UserError {
  override readonly name = 'BrokerError';
}

/** A file named by an mqtt.* setting that cannot be read. The message names the setting and the file, never the content. */
export class MqttSettingsError extends UserError {
  override readonly name = 'MqttSettingsError';
}

/** The connection half of both programs' `mqtt` config sections (runtime/mqtt-config.ts). */
export interface MqttConnectionSettings {
  url: string;
  username?: string | undefined;
  passwordFile?: string | undefined;
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
}

/** mqtt.js's protocolVersion: 4 is MQTT 3.1.1. */
export type MqttProtocol = 4 | 5;
export type ProtocolSetting = 'auto' | '5' | '3.1.1';

export interface ConnectionOptions {
  settings: MqttConnectionSettings;
  clientId: string;
  protocol: MqttProtocol;
  keepaliveSeconds: number;
  /** 0: the caller reconnects itself (the edge, with backoff and jitter). */
  reconnectPeriodMs: number;
  connectTimeoutMs: number;
  will?: { topic: string; payload: Buffer; qos: 0 | 1; retain: boolean };
  /** false: the caller subscribes on every connect itself. */
  resubscribe?: boolean;
  /** MQTT 5 only: the broker drops anything larger instead of sending it. */
  maximumPacketSize?: number;
  /** MQTT 5 only: how long the broker keeps the session while we are away. */
  sessionExpirySeconds?: number;
  /** MQTT 5 only: unacknowledged inbound QoS 1 messages at once. */
  receiveMaximum?: number;
  /**
   * Any protocol: a PUBLISH whose header announces more than `limit` bytes is
   * skipped unread and acknowledged ('discarded': a persistent session would
   * otherwise deliver it again on every reconnect); any other oversize packet
   * closes the connection before its body is read ('refused'). mqtt.js reads
   * a packet whole first; MQTT 5's Maximum Packet Size asks the broker not to
   * send it, 3.1.1 has no way to ask. `onOversize` hears the announced length.
   */
  refuseOver?: { limit: number; onOversize(announced: number, outcome: OversizeOutcome): void };
}

/** Reads a file named by an mqtt.* setting; the error names the setting and the path. */
function readSettingFile(setting: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new MqttSettingsError(`mqtt.${setting} (${path}): cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
}

/** A password is a line; a larger file is a mistake (and is not read into memory). */
export const MAX_PASSWORD_FILE_BYTES = 4096;

/** The password: the file's content, surrounding whitespace removed. Checked to be a small regular file first. */
export function readPasswordFile(path: string): string {
  let size: number;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new MqttSettingsError(`mqtt.passwordFile (${path}): not a regular file`);
    size = stat.size;
  } catch (error) {
    if (error instanceof MqttSettingsError) throw error;
    throw new MqttSettingsError(`mqtt.passwordFile (${path}): cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  if (size > MAX_PASSWORD_FILE_BYTES) throw new MqttSettingsError(`mqtt.passwordFile (${path}): ${size} bytes; expected a password of at most ${MAX_PASSWORD_FILE_BYTES}`);
  return readSettingFile('passwordFile', path).toString('utf8').trim();
}

/** Reads every file the settings name, as a connect would (for `check` commands); throws MqttSettingsError. */
export function checkConnectionFiles(settings: MqttConnectionSettings): void {
  if (settings.passwordFile !== undefined) readPasswordFile(settings.passwordFile);
  for (const setting of ['ca', 'cert', 'key'] as const) {
    const path = settings[setting];
    if (path !== undefined) readSettingFile(setting, path);
  }
}

export function clientOptions(o: ConnectionOptions): IClientOptions {
  const s = o.settings;
  const v5 = o.protocol === 5;
  const properties = {
    ...(o.sessionExpirySeconds !== undefined && { sessionExpiryInterval: o.sessionExpirySeconds }),
    ...(o.receiveMaximum !== undefined && { receiveMaximum: o.receiveMaximum }),
    ...(o.maximumPacketSize !== undefined && { maximumPacketSize: o.maximumPacketSize }),
  };
  return {
    clientId: o.clientId,
    protocolVersion: o.protocol,
    clean: false, // the broker keeps our subscriptions and messages while we are away
    keepalive: o.keepaliveSeconds,
    reconnectPeriod: o.reconnectPeriodMs,
    connectTimeout: o.connectTimeoutMs,
    queueQoSZero: false,
    ...(o.resubscribe !== undefined && { resubscribe: o.resubscribe }),
    ...(o.will && { will: o.will }),
    ...(v5 && Object.keys(properties).length > 0 && { properties }),
    ...(s.username !== undefined && { username: s.username }),
    ...(s.passwordFile !== undefined && { password: readPasswordFile(s.passwordFile) }),
    ...(s.ca !== undefined && { ca: readSettingFile('ca', s.ca) }),
    ...(s.cert !== undefined && { cert: readSettingFile('cert', s.cert) }),
    ...(s.key !== undefined && { key: readSettingFile('key', s.key) }),
  };
}

/** Opens the connection (mqtt.js connects in the background: listen for 'connect', 'close' and 'error'). */
export function connectMqtt(o: ConnectionOptions): MqttClient {
  if (!o.refuseOver) return mqtt.connect(o.settings.url, clientOptions(o));
  const { limit, onOversize } = o.refuseOver;
  // Every stream mqtt.js opens (the first and each reconnect's) is read through the filter from its first byte.
  const client = mqtt.connect(o.settings.url, { ...clientOptions(o), manualConnect: true });
  const internal = client as unknown as { streamBuilder: (c: MqttClient) => Duplex };
  const build = internal.streamBuilder;
  internal.streamBuilder = (c) => {
    const filtered = new OversizeFilteredStream(limit, onOversize);
    const opts = c.options as { protocol?: string; hostname?: string; host?: string; port?: number; onread?: unknown };
    // Plain TCP and TLS sockets read into one reused buffer (OversizeFilteredStream: a skipped body costs no garbage).
    if (opts.protocol === 'mqtt' || opts.protocol === 'tcp') {
      const host = opts.hostname || opts.host || 'localhost';
      return filtered.attach(createConnection({ port: opts.port || 1883, host, onread: filtered.staticReads() }), true);
    }
    const tls = opts.protocol === 'mqtts' || opts.protocol === 'ssl';
    if (tls) opts.onread = filtered.staticReads(); // mqtt.js's TLS builder passes its options to tls.connect
    return filtered.attach(build(c), tls);
  };
  client.connect();
  return client;
}

/** CONNACK codes of a broker that does not speak the version asked for: 3.1.1's 1, MQTT 5's 0x84. */
const REFUSED_PROTOCOL = new Set([1, 132]);

export function initialProtocol(setting: ProtocolSetting): MqttProtocol {
  return setting === '3.1.1' ? 4 : 5;
}

export function protocolName(protocol: MqttProtocol): '5' | '3.1.1' {
  return protocol === 5 ? '5' : '3.1.1';
}

/**
 * The version to try after `error`, or null to keep the current one. Only
 * `auto` falls back, only from 5 to 3.1.1, and only when the broker refused
 * the version (a broker that refused credentials would refuse them again).
 */
export function fallbackProtocol(setting: ProtocolSetting, current: MqttProtocol, error: unknown): MqttProtocol | null {
  const code = (error as { code?: unknown } | null)?.code;
  return setting === 'auto' && current === 5 && typeof code === 'number' && REFUSED_PROTOCOL.has(code) ? 4 : null;
}

/** A URL fit for a log line: any password in it replaced (mqtt://user:***@host). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === '') return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
  }
}
