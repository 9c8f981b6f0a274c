// Session identity under deploy/mosquitto/splitoculo.conf: a client's id is
// its certificate's CN (use_identity_as_username + use_username_as_clientid),
// so a device certificate that connects with another client's id (the
// worker's, another board's) gets a session of its own and cannot take over,
// and so empty, the victim's persistent session. The broker runs the deploy
// config itself, with only the port and file paths rewritten.
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { makePki, type TestPki } from '../helpers/certificates.ts';
import { Mosquitto } from '../helpers/mosquitto.ts';
import { REPO_ROOT } from '../helpers/paths.ts';
import { waitUntil } from '../helpers/wait.ts';

const DEPLOY = join(REPO_ROOT, 'deploy', 'mosquitto');
const root = mkdtempSync(join(tmpdir(), 'splitoculo-identity-'));
chmodSync(root, 0o755); // mosquitto reads the certificates after dropping to its own user
let pki: TestPki;
let broker: Mosquitto;
let url: string;
const clients: MqttClient[] = [];

/** The deploy config's listener settings, with this test's port, certificates and ACL copy (persistence is the harness's). */
function deployListener(port: number, dir: string): string[] {
  copyFileSync(join(DEPLOY, 'splitoculo.acl'), join(dir, 'splitoculo.acl'));
  chmodSync(join(dir, 'splitoculo.acl'), 0o644);
  const replace: Record<string, string> = {
    listener: `listener ${port} 127.0.0.1`,
    cafile: `cafile ${pki.ca}`,
    certfile: `certfile ${pki.server.cert}`,
    keyfile: `keyfile ${pki.server.key}`,
    acl_file: `acl_file ${join(dir, 'splitoculo.acl')}`,
  };
  const lines = readFileSync(join(DEPLOY, 'splitoculo.conf'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const kept = lines.filter((line) => !/^(per_listener_settings|persistence)\b/.test(line)).map((line) => replace[line.split(/\s+/)[0]!] ?? line);
  assert.ok(kept[0]!.startsWith('listener '), 'the deploy config starts with its listener');
  return kept;
}

/** A 3.1.1 client with a persistent session (clean: false), as the worker and the edge connect. */
async function connect(cn: string, clientId: string): Promise<{ client: MqttClient; received: string[] }> {
  const { cert, key } = pki.client(cn);
  const client = await mqtt.connectAsync(url, {
    protocolVersion: 4,
    clean: false,
    clientId,
    ca: readFileSync(pki.ca),
    cert: readFileSync(cert),
    key: readFileSync(key),
    reconnectPeriod: 0,
  });
  const received: string[] = [];
  client.on('message', (_topic, payload) => received.push(payload.toString()));
  clients.push(client);
  return { client, received };
}

before(async () => {
  pki = makePki(join(root, 'pki'));
  broker = await Mosquitto.start(undefined, deployListener);
  url = `mqtts://127.0.0.1:${broker.port}`;
});
after(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await broker.dispose();
  rmSync(root, { recursive: true, force: true });
});

describe('client ids bound to certificates (deploy config)', () => {
  it("keeps a worker's queued frames from a device that connects with the worker's client id", async () => {
    const workerId = 'splitoculo-cloud-worker-1';
    const worker = await connect('splitoculo-worker-1', workerId);
    await worker.client.subscribeAsync('splitoculo/v1/+/frame', { qos: 1 });
    await worker.client.endAsync();

    const cam = await connect('cam-a', 'splitoculo-edge-cam-a');
    for (let i = 0; i < 10; i++) await cam.client.publishAsync('splitoculo/v1/cam-a/frame', `frame-${i}`, { qos: 1 });

    // The attacker holds a valid device certificate and knows the worker's client id.
    const impostor = await connect('cam-evil', workerId);
    await impostor.client.subscribeAsync('splitoculo/v1/cam-evil/answer', { qos: 1 }); // a round trip: its session is settled
    await impostor.client.endAsync();

    const back = await connect('splitoculo-worker-1', workerId);
    await waitUntil(() => back.received.length >= 10, 5000, `10 queued frames delivered to the worker (got ${back.received.length})`);
    assert.deepEqual(back.received.sort(), Array.from({ length: 10 }, (_, i) => `frame-${i}`).sort());
    assert.deepEqual(impostor.received, []);
  });

  it("keeps a board's queued answer from another device that connects with the board's client id", async () => {
    const boardId = 'splitoculo-edge-cam-b';
    const board = await connect('cam-b', boardId);
    await board.client.subscribeAsync('splitoculo/v1/cam-b/answer', { qos: 1 });
    await board.client.endAsync();

    const worker = await connect('splitoculo-worker-2', 'splitoculo-cloud-worker-2');
    await worker.client.publishAsync('splitoculo/v1/cam-b/answer', 'answer-for-b', { qos: 1 });

    const impostor = await connect('cam-evil2', boardId);
    await impostor.client.subscribeAsync('splitoculo/v1/cam-evil2/answer', { qos: 1 });
    await impostor.client.endAsync();

    const back = await connect('cam-b', boardId);
    await waitUntil(() => back.received.length >= 1, 5000, 'the queued answer delivered to the board');
    assert.deepEqual(back.received, ['answer-for-b']);
    assert.deepEqual(impostor.received, []);
  });
});
