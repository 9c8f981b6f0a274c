/**
 * The PUBACK of an inbound QoS 1 message, sent when we choose instead of when
 * mqtt.js's handleMessage callback runs. mqtt.js handles no further packet
 * (not even PINGRESP) until that callback has run, so holding it for an
 * inference would serialise the worker and trip the keepalive. mqtt.js has no
 * public API for this; this file is the one place that relies on its
 * internals, and the contract is:
 *
 * 1. an error given to handleMessage's callback makes mqtt.js skip its own
 *    PUBACK and read on (lib/handlers/publish.ts, QoS 1 branch);
 * 2. `client._sendPacket({ cmd: 'puback', messageId }, cb)` writes a PUBACK on
 *    the current connection.
 *
 * test/runtime/mqtt-puback.test.ts checks both against a real mosquitto and
 * fails when the installed mqtt.js is not MQTT_JS_CONTRACT_VERSION (the
 * lockfile's): an upgrade must re-run it and move the pin on purpose.
 */
import type { MqttClient } from 'mqtt';

/** The mqtt.js version the contract above was checked against. */
export const MQTT_JS_CONTRACT_VERSION = '5.16.0';

export class PubackContractError extends Error {
  override readonly name = 'PubackContractError';
}

type SendPacket = (packet: { cmd: 'puback'; messageId: number }, callback: (error?: Error) => void) => void;

/** Given to handleMessage's callback: mqtt.js then skips its own PUBACK (point 1 above). */
const DEFERRED = Object.assign(new Error('acknowledged later (runtime/mqtt-puback.ts)'), { deferred: true });

function sendPacketOf(client: MqttClient): SendPacket {
  const send = (client as unknown as { _sendPacket?: unknown })._sendPacket;
  if (typeof send !== 'function') {
    throw new PubackContractError(`mqtt.js has no _sendPacket: deferred PUBACKs need mqtt ${MQTT_JS_CONTRACT_VERSION} (runtime/mqtt-puback.ts)`);
  }
  return send.bind(client) as SendPacket;
}

/** Fails at once (at connect, not at the first acknowledgement) on an mqtt.js without the internals we use. */
export function assertDeferredPuback(client: MqttClient): void {
  sendPacketOf(client);
}

/** Releases mqtt.js to read on without acknowledging the message. */
export function deferPuback(callback: (error?: Error) => void): void {
  callback(DEFERRED);
}

/**
 * Acknowledges `messageId` on the client's current connection. Only call it
 * on the connection the message came in on: after a reconnect the broker
 * redelivers unacknowledged messages, and a PUBACK for another connection's
 * packet id would acknowledge the wrong message.
 */
export function sendPuback(client: MqttClient, messageId: number, onWritten: (error?: Error) => void = () => undefined): void {
  sendPacketOf(client)({ cmd: 'puback', messageId }, onWritten);
}
