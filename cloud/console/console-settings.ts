/**
 * Which broker and credentials the console and `splitoculo-cloud ask` use:
 * console.mqtt's fields, else the worker's mqtt section; the URL falls back
 * to the worker's, then to the embedded broker. When console.mqtt names its
 * own identity (username or client certificate) none of the worker's
 * credentials are mixed in: a username with another's password file would
 * only fail.
 */
import type { MqttConnectionSettings } from '../../runtime/mqtt-connection.ts';
import type { CloudConfig } from '../config/schema.ts';

export function consoleConnection(config: CloudConfig, brokerPort: number | null): MqttConnectionSettings {
  const own = config.console.mqtt ?? {};
  const worker = config.mqtt;
  const brokerHost = ['0.0.0.0', '::'].includes(config.broker.host) ? '127.0.0.1' : config.broker.host;
  const url = own.url ?? worker.url ?? `mqtt://${brokerHost.includes(':') ? `[${brokerHost}]` : brokerHost}:${brokerPort ?? config.broker.port}`;
  const pick = (s: Partial<MqttConnectionSettings>) => ({
    ...(s.username !== undefined && { username: s.username }),
    ...(s.passwordFile !== undefined && { passwordFile: s.passwordFile }),
    ...(s.ca !== undefined && { ca: s.ca }),
    ...(s.cert !== undefined && { cert: s.cert }),
    ...(s.key !== undefined && { key: s.key }),
  });
  const ownIdentity = own.username !== undefined || own.cert !== undefined;
  return { ...(ownIdentity ? { ...(worker.ca !== undefined && { ca: worker.ca }) } : pick(worker)), ...pick(own), url };
}
