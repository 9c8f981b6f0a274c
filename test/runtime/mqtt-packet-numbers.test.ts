// Every connection goes through runtime/mqtt-connection.ts, which turns off
// mqtt-packet's table of 65,536 pre-made 2-byte Buffers (7 MB of the edge's V8
// heap, issue 17). Through a real mosquitto: a QoS 1 publish and its
// acknowledgement write packet ids and lengths, and the table stays empty.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, it } from 'node:test';
import { connectMqtt } from '../../runtime/mqtt-connection.ts';
import { Mosquitto } from '../helpers/mosquitto.ts';

// The very module mqtt.js writes with (resolved from mqtt's own folder).
const fromMqtt = createRequire(createRequire(import.meta.url).resolve('mqtt'));
const numbers = fromMqtt('mqtt-packet/numbers.js') as { cache: Record<number, Buffer> };

let broker: Mosquitto;
before(async () => {
  broker = await Mosquitto.start();
});
after(() => broker.dispose());

it('writes packets without filling the 65,536-entry number cache', async () => {
  const client = connectMqtt({ settings: { url: broker.url }, clientId: 'numbers', keepaliveSeconds: 30, reconnectPeriodMs: 0, connectTimeoutMs: 5000, protocol: 5 });
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    const received = new Promise<Buffer>((resolve) => client.on('message', (_topic, payload) => resolve(payload)));
    await client.subscribeAsync('numbers/t', { qos: 1 });
    for (let i = 0; i < 3; i++) await client.publishAsync('numbers/t', Buffer.alloc(300 + i), { qos: 1 });
    assert.equal((await received).length, 300, 'the packets went out and came back');
    assert.equal(Object.keys(numbers.cache).length, 0, 'no pre-made number buffers');
  } finally {
    await client.endAsync();
  }
});
