// The example mosquitto ACL (deploy/mosquitto/splitoculo.acl) with one client
// certificate per device: a device can neither publish as another nor read
// another's answers or commands; the worker reads every frame and answers
// every device. Checked by delivery, not by SUBACK (mosquitto grants denied
// subscriptions and filters at delivery).
import assert from 'node:assert/strict';
import { copyFileSync, chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { makePki, type TestPki } from '../helpers/certificates.ts';
import { Mosquitto, freePort } from '../helpers/mosquitto.ts';
import { REPO_ROOT } from '../helpers/paths.ts';
import { waitUntil } from '../helpers/wait.ts';

const root = mkdtempSync(join(tmpdir(), 'splitoculo-acl-'));
chmodSync(root, 0o755); // mosquitto reads the certificates after dropping to its own user
let pki: TestPki;
let broker: Mosquitto;
let url: string;
const clients: MqttClient[] = [];

async function connect(cn: string): Promise<{ client: MqttClient; received: Array<[string, string]> }> {
  const { cert, key } = pki.client(cn);
  const client = await mqtt.connectAsync(url, {
    protocolVersion: 5,
    clientId: `acl-${cn}`,
    ca: readFileSync(pki.ca),
    cert: readFileSync(cert),
    key: readFileSync(key),
    reconnectPeriod: 0,
  });
  const received: Array<[string, string]> = [];
  client.on('message', (topic, payload) => received.push([topic, payload.toString()]));
  clients.push(client);
  return { client, received };
}

/** PUBACK reason code of a QoS 1 publish (0 = accepted, 0x87 = not authorised). */
async function publishReason(client: MqttClient, topic: string, payload: string): Promise<number> {
  try {
    const packet = await client.publishAsync(topic, payload, { qos: 1 });
    return (packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0;
  } catch (error) {
    const code = (error as { code?: number }).code;
    if (typeof code !== 'number') throw error;
    return code; // mqtt.js rejects a publish whose PUBACK carries an error reason
  }
}

before(async () => {
  pki = makePki(join(root, 'pki'));
  const port = await freePort();
  broker = await Mosquitto.start(port, (p, dir) => {
    copyFileSync(join(REPO_ROOT, 'deploy', 'mosquitto', 'splitoculo.acl'), join(dir, 'splitoculo.acl'));
    chmodSync(join(dir, 'splitoculo.acl'), 0o644);
    return [
      `listener ${p} 127.0.0.1`,
      `cafile ${pki.ca}`,
      `certfile ${pki.server.cert}`,
      `keyfile ${pki.server.key}`,
      'require_certificate true',
      'use_identity_as_username true',
      `acl_file ${join(dir, 'splitoculo.acl')}`,
    ];
  });
  url = `mqtts://127.0.0.1:${port}`;
});
after(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await broker.dispose();
  rmSync(root, { recursive: true, force: true });
});

describe('example mosquitto ACL', () => {
  it('lets a device publish its own frames only, and the worker read them', async () => {
    const worker = await connect('splitoculo-worker-1');
    await worker.client.subscribeAsync('splitoculo/v1/+/frame', { qos: 1 });
    const camA = await connect('cam-a');
    assert.equal(await publishReason(camA.client, 'splitoculo/v1/cam-a/frame', 'a-own'), 0);
    assert.equal(await publishReason(camA.client, 'splitoculo/v1/cam-b/frame', 'a-as-b'), 0x87);
    assert.equal(await publishReason(camA.client, 'splitoculo/v1/cam-b/answer', 'a-forges-answer'), 0x87);
    // A barrier instead of a sleep: mosquitto routes a QoS 1 publish before its PUBACK and delivers in order,
    // so once this last one has arrived anything let through before it has too.
    assert.equal(await publishReason(camA.client, 'splitoculo/v1/cam-a/frame', 'barrier'), 0);
    await waitUntil(() => worker.received.length >= 2, 5000, 'the barrier frame');
    assert.deepEqual(worker.received, [
      ['splitoculo/v1/cam-a/frame', 'a-own'],
      ['splitoculo/v1/cam-a/frame', 'barrier'],
    ]);
  });

  it("keeps one device's answers and commands from another, and lets the worker answer every device", async () => {
    const camA = await connect('cam-a2');
    const camB = await connect('cam-b2');
    await camA.client.subscribeAsync(['splitoculo/v1/cam-b2/answer', 'splitoculo/v1/+/answer', 'splitoculo/v1/cam-b2/command'], { qos: 1 });
    await camB.client.subscribeAsync('splitoculo/v1/cam-b2/answer', { qos: 1 });
    const worker = await connect('splitoculo-worker-1');
    assert.equal(await publishReason(worker.client, 'splitoculo/v1/cam-b2/answer', 'for-b'), 0);
    assert.equal(await publishReason(worker.client, 'splitoculo/v1/cam-b2/command', 'worker-commands'), 0x87);
    const operator = await connect('splitoculo-operator');
    assert.equal(await publishReason(operator.client, 'splitoculo/v1/cam-b2/command', '{"action":"pause"}'), 0);
    // Barriers, one per reader: its own answer, published after everything it must not see.
    assert.equal(await publishReason(worker.client, 'splitoculo/v1/cam-a2/answer', 'barrier-a'), 0);
    assert.equal(await publishReason(worker.client, 'splitoculo/v1/cam-b2/answer', 'barrier-b'), 0);
    await waitUntil(() => camA.received.length >= 1 && camB.received.length >= 2, 5000, 'the barrier answers');
    assert.deepEqual(camB.received, [
      ['splitoculo/v1/cam-b2/answer', 'for-b'],
      ['splitoculo/v1/cam-b2/answer', 'barrier-b'],
    ]);
    assert.deepEqual(camA.received, [['splitoculo/v1/cam-a2/answer', 'barrier-a']], 'cam-a saw nothing of cam-b2');
  });
});
