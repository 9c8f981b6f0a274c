// The console under the deploy ACL (deploy/mosquitto/splitoculo.acl, with
// passwords standing in for certificates: the ACL reads the username either
// way): with the operator's identity in console.mqtt it lists devices and its
// commands reach them; with the worker's own identity the broker refuses the
// command and the console says which setting to change.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { loadCloudConfig } from '../../cloud/config/load.ts';
import { OperatorConsole } from '../../cloud/console/operator-console.ts';
import { encodeStatus, onlineStatus } from '../../protocol/status.ts';
import { TopicMap } from '../../protocol/topics.ts';
import { freePort, Mosquitto } from '../helpers/mosquitto.ts';
import { REPO_ROOT } from '../helpers/paths.ts';
import { waitFor } from '../helpers/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'console-acl-'));
chmodSync(dir, 0o755); // mosquitto reads the files after dropping to its own user
const topics = new TopicMap();
const PASSWORD = 'a long test password';
let broker: Mosquitto;
let device: MqttClient;
const received: string[] = [];
const consoles: OperatorConsole[] = [];

function passwordFile(name: string): string {
  const path = join(dir, `${name}.pw`);
  writeFileSync(path, `${PASSWORD}\n`, { mode: 0o600 });
  return path;
}

async function startConsole(sets: string[]): Promise<OperatorConsole> {
  const base = ['models.paths=["models/tiny"]', 'answerer.type=local', 'answerer.qwen=models/tiny-qwen', `dedup.path=${join(dir, 'answered.db')}`, 'console.port=0'];
  const worker = [`mqtt.url=${broker.url}`, 'mqtt.username=splitoculo-worker-1', `mqtt.passwordFile=${passwordFile('worker')}`];
  const config = loadCloudConfig({ sets: [...base, ...worker, ...sets] });
  const c = new OperatorConsole(config, { workerId: `acl${consoles.length}`, topics, brokerPort: null, log: pino({ level: 'silent' }) });
  consoles.push(c);
  await c.start();
  return c;
}

function pause(c: OperatorConsole): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: c.port!, path: '/api/devices/cam-a/command', method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ command: 'pause' }));
  });
}

before(async () => {
  const passwords = join(dir, 'passwd');
  writeFileSync(passwords, '');
  for (const user of ['splitoculo-worker-1', 'splitoculo-operator', 'cam-a']) execFileSync('mosquitto_passwd', ['-b', passwords, user, PASSWORD]);
  chmodSync(passwords, 0o644);
  broker = await Mosquitto.start(await freePort(), (port, brokerDir) => {
    copyFileSync(join(REPO_ROOT, 'deploy', 'mosquitto', 'splitoculo.acl'), join(brokerDir, 'splitoculo.acl'));
    chmodSync(join(brokerDir, 'splitoculo.acl'), 0o644);
    return [`listener ${port} 127.0.0.1`, 'allow_anonymous false', `password_file ${passwords}`, `acl_file ${join(brokerDir, 'splitoculo.acl')}`];
  });
  device = await mqtt.connectAsync(broker.url, { clientId: 'cam-a', username: 'cam-a', password: PASSWORD, protocolVersion: 5 });
  device.on('message', (_topic, payload) => received.push(payload.toString()));
  await device.subscribeAsync(topics.command('cam-a'), { qos: 1 });
  const body = { version: '0.1.0', node: 'v24.21.0', codec: 'neural' as const, paused: false, intervalMs: 1000, prompt: null, captured: 0 };
  await device.publishAsync(topics.status('cam-a'), encodeStatus(onlineStatus('cam-a', body)), { qos: 1, retain: true });
});

after(async () => {
  for (const c of consoles) await c.stop();
  await device?.endAsync(true);
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it("with the operator's identity in console.mqtt: the device is listed and a command reaches it", async () => {
  const c = await startConsole(['console.mqtt.username=splitoculo-operator', `console.mqtt.passwordFile=${passwordFile('operator')}`]);
  await waitFor(() => c.device('cam-a')?.state === 'online', { what: 'the retained status read by the operator' });
  const reply = await pause(c);
  assert.equal(reply.status, 202, reply.body);
  await waitFor(() => received.includes('{"command":"pause"}'), { what: 'the pause command at the device' });
});

it("with the worker's identity: the broker refuses the command and the console names console.mqtt", async () => {
  const before = received.length;
  const c = await startConsole([]);
  const reply = await pause(c);
  assert.equal(reply.status, 502);
  assert.match(JSON.parse(reply.body).error, /^the broker did not take the command: .*reason code 0x87.*console\.mqtt needs an identity allowed to write commands/);
  assert.equal(received.length, before);
});

it('credentials the broker refuses: one line naming console.mqtt, no connection left behind', async () => {
  const wrong = join(dir, 'wrong.pw');
  writeFileSync(wrong, 'not the password\n', { mode: 0o600 });
  await assert.rejects(startConsole(['console.mqtt.username=splitoculo-operator', `console.mqtt.passwordFile=${wrong}`]), (error: Error) => {
    assert.equal(error.name, 'BrokerError');
    assert.match(error.message, /^console\.mqtt \(mqtt:\/\/127\.0\.0\.1:\d+\): .*(Not authorized|Bad User Name or Password)/i);
    return true;
  });
  assert.equal(consoles.at(-1)!.connected, false);
});
