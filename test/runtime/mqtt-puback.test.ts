// The deferred-PUBACK contract with mqtt.js's internals (runtime/mqtt-puback.ts),
// pinned to the lockfile's mqtt.js and exercised against a real mosquitto: an
// upgrade that changes either half fails here, loudly, before the worker
// starts double-answering or never acknowledging frames.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt, { type IPublishPacket, type MqttClient, type Packet } from 'mqtt';
import { connectMqtt } from '../../runtime/mqtt-connection.ts';
import { deferPuback, MQTT_JS_CONTRACT_VERSION, sendPuback } from '../../runtime/mqtt-puback.ts';
import { Mosquitto } from '../helpers/mosquitto.ts';
import { REPO_ROOT } from '../helpers/paths.ts';
import { waitUntil } from '../helpers/wait.ts';

const TOPIC = 'contract/puback';
let broker: Mosquitto;
const clients: MqttClient[] = [];

before(async () => {
  broker = await Mosquitto.start();
});
after(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  await broker.dispose();
});

interface Deferring {
  client: MqttClient;
  received: IPublishPacket[];
  sent: Packet[];
}

/** A persistent-session subscriber that defers every PUBACK, as the worker does. */
async function deferringSubscriber(protocol: 4 | 5): Promise<Deferring> {
  const client = connectMqtt({
    settings: { url: broker.url },
    clientId: `puback-contract-v${protocol}`,
    protocol,
    keepaliveSeconds: 30,
    reconnectPeriodMs: 0,
    connectTimeoutMs: 5000,
    sessionExpirySeconds: 300,
  });
  clients.push(client);
  const received: IPublishPacket[] = [];
  const sent: Packet[] = [];
  client.handleMessage = (packet, callback) => {
    received.push(packet);
    deferPuback(callback);
  };
  client.on('packetsend', (packet) => sent.push(packet));
  await new Promise<void>((resolve, reject) => client.once('connect', () => resolve()).once('error', reject));
  return { client, received, sent };
}

const payloads = (packets: IPublishPacket[]) => packets.map((p) => String(p.payload));
const pubacks = (sent: Packet[]) => sent.filter((p) => p.cmd === 'puback').map((p) => (p as { messageId?: number }).messageId);

describe('deferred PUBACK (runtime/mqtt-puback.ts)', () => {
  it('the installed mqtt.js is the one in the lockfile and the one the contract was checked against', () => {
    const installed = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', 'mqtt', 'package.json'), 'utf8')).version;
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8'));
    const locked = lock.packages['node_modules/mqtt'].version;
    const declared = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).dependencies.mqtt;
    assert.equal(installed, locked, 'node_modules/mqtt differs from package-lock.json: run npm ci');
    assert.equal(declared, locked, 'package.json pins mqtt exactly, as the lockfile has it');
    assert.equal(locked, MQTT_JS_CONTRACT_VERSION, `mqtt.js ${locked} is not the version runtime/mqtt-puback.ts was checked against: re-run this test against it, then move MQTT_JS_CONTRACT_VERSION`);
  });

  for (const protocol of [5, 4] as const) {
    it(`MQTT ${protocol === 5 ? '5' : '3.1.1'}: a deferred message is not acknowledged, mqtt.js reads on, and sendPuback acknowledges exactly that message`, async () => {
      const topic = `${TOPIC}/v${protocol}`;
      const first = await deferringSubscriber(protocol);
      await first.client.subscribeAsync(topic, { qos: 1 });
      const publisher = await mqtt.connectAsync(broker.url, { clientId: `puback-publisher-v${protocol}`, reconnectPeriod: 0 });
      clients.push(publisher);
      await publisher.publishAsync(topic, 'acked', { qos: 1 });
      await publisher.publishAsync(topic, 'deferred', { qos: 1 });
      // Both arrive: the first's deferred callback released mqtt.js to read the second.
      await waitUntil(() => first.received.length === 2, 5000, 'both messages handled');
      assert.deepEqual(payloads(first.received), ['acked', 'deferred']);
      assert.deepEqual(pubacks(first.sent), [], 'a deferred message gets no PUBACK from mqtt.js');

      const ackedId = first.received[0]!.messageId!;
      sendPuback(first.client, ackedId);
      await waitUntil(() => pubacks(first.sent).length === 1, 5000, 'our PUBACK written');
      assert.deepEqual(pubacks(first.sent), [ackedId]);
      await first.client.endAsync(); // a clean DISCONNECT: the session (and its unacknowledged message) stays

      // The broker redelivers only what was not acknowledged; a message published after the reconnect is the barrier.
      const second = await deferringSubscriber(protocol);
      await publisher.publishAsync(topic, 'after', { qos: 1 });
      await waitUntil(() => payloads(second.received).includes('after'), 5000, 'the message after the reconnect');
      assert.deepEqual(payloads(second.received), ['deferred', 'after'], 'the acknowledged message is not redelivered; the deferred one is');
      assert.deepEqual(pubacks(second.sent), []);
      for (const packet of second.received) sendPuback(second.client, packet.messageId!);
      await waitUntil(() => pubacks(second.sent).length === 2, 5000, 'both acknowledged');
      await second.client.endAsync();
    });
  }
});
