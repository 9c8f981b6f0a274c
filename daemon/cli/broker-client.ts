/**
 * The short-lived broker connection of the `check` and `queue replay`
 * commands: the daemon's own TLS files, username and password file (one way
 * to build them, runtime/mqtt-connection.ts), but a clean MQTT 3.1.1 session,
 * since a one-off client id must leave nothing behind on the broker.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { clientOptions } from '../../runtime/mqtt-connection.ts';
import type { EdgeConfig } from '../config/schema.ts';

export function connectOnce(config: EdgeConfig, url: string, clientId: string, timeoutMs: number): Promise<MqttClient> {
  const options = clientOptions({ settings: { ...config.mqtt, url }, clientId, protocol: 4, keepaliveSeconds: 30, reconnectPeriodMs: 0, connectTimeoutMs: timeoutMs });
  return mqtt.connectAsync(url, { ...options, clean: true });
}
