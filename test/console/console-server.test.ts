// The operator console against a real mosquitto: what devices publish shows up
// in the API and the event stream, commands reach the command topic (validated
// by the daemon's own schema), asks are matched to their answers, previews are
// served back only when they are JPEGs, and access rules hold (loopback Host,
// token by header or login cookie, refusal beyond loopback without a token).
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { Registry } from 'prom-client';
import { encodeAnswer, type AnswerEnvelope } from '../../protocol/answer.ts';
import { encodeStatus, offlineStatus, onlineStatus } from '../../protocol/status.ts';
import { TopicMap } from '../../protocol/topics.ts';
import { loadCloudConfig } from '../../cloud/config/load.ts';
import { OperatorConsole } from '../../cloud/console/operator-console.ts';
import { CLOUD_BIN, cli, stderrLines } from '../helpers/cli.ts';
import { metricValue } from '../helpers/metrics.ts';
import { Mosquitto } from '../helpers/mosquitto.ts';
import { waitFor } from '../helpers/wait.ts';

const BASE = ['models.paths=["models/tiny"]', 'answerer.type=local', 'answerer.qwen=models/tiny-qwen'];
const topics = new TopicMap();
const dir = mkdtempSync(join(tmpdir(), 'console-server-'));
let broker: Mosquitto;
let device: MqttClient;
let console_: OperatorConsole;
const commands: { topic: string; body: Record<string, unknown> }[] = [];
const registry = new Registry();

function create(sets: string[], metrics = new Registry()): OperatorConsole {
  const config = loadCloudConfig({ sets: [...BASE, `mqtt.url=${broker.url}`, `dedup.path=${join(dir, 'answered.db')}`, 'console.port=0', ...sets] });
  return new OperatorConsole(config, { workerId: `t${Math.random().toString(36).slice(2, 6)}`, topics, brokerPort: null, log: pino({ level: 'silent' }), registry: metrics });
}

function start(sets: string[], metrics?: Registry): Promise<OperatorConsole> {
  const c = create(sets, metrics);
  return c.start().then(() => c);
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function http(c: OperatorConsole, path: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: c.port!, path, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('latin1') }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const post = (c: OperatorConsole, id: string, command: unknown) =>
  http(c, `/api/devices/${id}/command`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(command) });

/** Events from /api/events, as parsed {type, data}. */
function events(c: OperatorConsole): { seen: { type: string; data: Record<string, unknown> }[]; close(): void } {
  const seen: { type: string; data: Record<string, unknown> }[] = [];
  let buffer = '';
  const req = request({ host: '127.0.0.1', port: c.port!, path: '/api/events' }, (res) => {
    res.on('data', (d: Buffer) => {
      buffer += d.toString();
      const blocks = buffer.split('\n\n');
      buffer = blocks.pop()!;
      for (const block of blocks) {
        const type = block.match(/^event: (.+)$/m)?.[1];
        const data = block.match(/^data: (.+)$/m)?.[1];
        if (type && data) seen.push({ type, data: JSON.parse(data) });
      }
    });
  });
  req.on('error', () => undefined);
  req.end();
  return { seen, close: () => req.destroy() };
}

const body = { version: '0.1.0', node: 'v24.21.0', codec: 'neural' as const, paused: false, intervalMs: 5000, prompt: null, captured: 3 };

function answer(extra: Partial<AnswerEnvelope>): Buffer {
  return encodeAnswer({
    v: 1,
    frameId: '01900000-0000-7000-8000-000000000001',
    device: 'cam1',
    modelId: '3999552de8567f831e4f6f8bbcae31ac',
    prompt: 'What is there?',
    text: 'a cat',
    timings: { totalMs: 120 },
    answeredAt: new Date().toISOString(),
    ...extra,
  });
}

before(async () => {
  broker = await Mosquitto.start();
  device = await mqtt.connectAsync(broker.url, { clientId: 'console-test-device' });
  await device.subscribeAsync(topics.command('cam1'), { qos: 1 });
  device.on('message', (topic, payload) => commands.push({ topic, body: JSON.parse(payload.toString()) }));
  await device.publishAsync(topics.status('cam1'), encodeStatus(onlineStatus('cam1', body)), { qos: 1, retain: true });
  console_ = await start([], registry);
});

after(async () => {
  await console_?.stop();
  await device?.endAsync(true);
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('lists the device from its retained status, serves the bundled page, and follows online -> offline', async () => {
  const list = await waitFor(
    async () => {
      const reply = JSON.parse((await http(console_, '/api/devices')).body);
      return reply.devices.length === 1 ? reply : null;
    },
    { what: 'the retained status listed' },
  );
  assert.equal(list.connected, true);
  assert.equal(list.devices[0].id, 'cam1');
  assert.equal(list.devices[0].state, 'online');
  assert.equal(list.devices[0].status.intervalMs, 5000);
  const page = await http(console_, '/');
  assert.equal(page.status, 200);
  assert.match(page.body, /<script src="\/app\.js" defer><\/script>/);
  assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
  const script = await http(console_, '/app.js', { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(script.headers['content-encoding'], 'gzip');
  const stream = events(console_);
  await waitFor(() => stream.seen.some((e) => e.type === 'hello'), { what: 'the hello event' });
  await device.publishAsync(topics.status('cam1'), encodeStatus(offlineStatus('cam1', new Date())), { qos: 1, retain: true });
  const update = await waitFor(() => stream.seen.find((e) => e.type === 'device' && e.data.state === 'offline'), { what: 'the offline status pushed' });
  assert.equal(update.data.id, 'cam1');
  stream.close();
  await device.publishAsync(topics.status('cam1'), encodeStatus(onlineStatus('cam1', body)), { qos: 1, retain: true });
  await waitFor(() => console_.device('cam1')?.state === 'online', { what: 'back online' });
});

it('an ask goes out with a fresh request id; the answer that echoes it is matched, pushed and kept with bytes and codec', async () => {
  const stream = events(console_);
  await waitFor(() => stream.seen.some((e) => e.type === 'hello'), { what: 'the hello event' });
  const reply = await post(console_, 'cam1', { command: 'ask', prompt: 'Is the door open?' });
  assert.equal(reply.status, 202);
  const { id } = JSON.parse(reply.body) as { id: string };
  assert.match(id, /^[A-Za-z0-9._:-]{1,64}$/);
  const sent = await waitFor(() => commands.find((c) => c.body.id === id), { what: 'the ask on the command topic' });
  assert.deepEqual(sent.body, { command: 'ask', prompt: 'Is the door open?', id });
  const frameId = '01900000-0000-7000-8000-0000000000a1';
  console_.frameTaken('cam1', frameId, 3247, 'neural-u8');
  const hostile = '<img src=x onerror="alert(1)"> the door is open';
  await device.publishAsync(topics.answer('cam1'), answer({ frameId, requestId: id, prompt: 'Is the door open?', text: hostile }), { qos: 1 });
  const pushed = await waitFor(() => stream.seen.find((e) => e.type === 'answer' && e.data.requestId === id), { what: 'the answer pushed' });
  assert.equal(pushed.data.text, hostile, 'kept as data; the page renders it as text');
  assert.equal(typeof pushed.data.askMs, 'number');
  assert.equal(pushed.data.bytes, 3247);
  assert.equal(pushed.data.codec, 'neural-u8');
  const history = JSON.parse((await http(console_, '/api/devices/cam1/history')).body).history as Record<string, unknown>[];
  const row = history.find((r) => r.requestId === id)!;
  assert.equal(row.bytes, 3247);
  assert.equal(row.prompt, 'Is the door open?');
  await device.publishAsync(topics.answer('cam1'), answer({ frameId, requestId: id, prompt: 'Is the door open?', text: hostile }), { qos: 1 });
  await device.publishAsync(topics.answer('cam1'), answer({ frameId: '01900000-0000-7000-8000-0000000000a2', text: 'later' }), { qos: 1 });
  await waitFor(() => console_.history('cam1', 100).some((r) => r.text === 'later'), { what: 'the later answer kept' });
  assert.equal(console_.history('cam1', 100).filter((r) => r.frameId === frameId).length, 1, 'a redelivered answer is one row');
  stream.close();
});

it('refuses what the daemon would refuse, with the reason, and sends nothing', async () => {
  const before = commands.length;
  const empty = await post(console_, 'cam1', { command: 'ask', prompt: '   ' });
  assert.equal(empty.status, 400);
  assert.match(JSON.parse(empty.body).error, /prompt: must not be empty/);
  assert.equal((await post(console_, 'cam1', { command: 'reboot' })).status, 400);
  assert.equal((await post(console_, 'bad%2Fid', { command: 'pause' })).status, 400);
  assert.equal((await post(console_, 'bad%E0%A4%A', { command: 'pause' })).status, 400, 'a broken escape is bad input, not a bug');
  const form = await http(console_, '/api/devices/cam1/command', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'command=pause' });
  assert.equal(form.status, 415, 'a cross-site form cannot send commands');
  const large = await http(console_, '/api/devices/cam1/command', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ command: 'ask', prompt: 'x'.repeat(20_000) }),
  });
  assert.equal(large.status, 413);
  assert.equal((await post(console_, 'cam1', { command: 'pause' })).status, 202);
  await waitFor(() => commands.length === before + 1, { what: 'only the valid command sent' });
  assert.equal(metricValue(await registry.metrics(), 'splitoculo_cloud_console_commands_total', { command: 'pause' }), 1);
  assert.deepEqual(commands.at(-1)!.body, { command: 'pause' });
});

it('serves the newest preview JPEG; refuses a payload that is not a JPEG or is too large', async () => {
  assert.equal((await http(console_, '/api/devices/cam1/preview.jpg')).status, 404);
  const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(600, 7), Buffer.from([0xff, 0xd9])]);
  await device.publishAsync(topics.preview('cam1'), jpeg, { qos: 1 });
  await waitFor(() => console_.preview('cam1') !== null, { what: 'the preview kept' });
  const served = await http(console_, '/api/devices/cam1/preview.jpg');
  assert.equal(served.headers['content-type'], 'image/jpeg');
  assert.deepEqual(Buffer.from(served.body, 'latin1'), jpeg);
  await device.publishAsync(topics.preview('cam1'), Buffer.from('<svg onload=alert(1)>'), { qos: 1 });
  await device.publishAsync(topics.preview('cam1'), Buffer.concat([jpeg, Buffer.alloc(17 * 1024)]), { qos: 1 });
  await waitFor(() => console_.refused.preview === 2, { what: 'both refused' });
  assert.equal(metricValue(await registry.metrics(), 'splitoculo_cloud_console_refused_total', { kind: 'preview' }), 2, 'counted on /metrics');
  assert.deepEqual(Buffer.from((await http(console_, '/api/devices/cam1/preview.jpg')).body, 'latin1'), jpeg, 'the last good preview stays');
});

it('an open console answers loopback host names only (no DNS rebinding)', async () => {
  assert.equal((await http(console_, '/api/devices', { headers: { host: 'localhost:1' } })).status, 200);
  assert.equal((await http(console_, '/api/devices', { headers: { host: 'attacker.example' } })).status, 403);
});

it('with a token file: API needs the bearer token or the login cookie; a wrong token is refused', async () => {
  const tokenFile = join(dir, 'console.token');
  const token = 'e3b0c44298fc1c149afbf4c8996fb924';
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const guarded = await start([`console.tokenFile=${tokenFile}`, 'console.mqtt.clientId=console-guarded']);
  try {
    assert.equal((await http(guarded, '/api/devices')).status, 401);
    assert.equal((await http(guarded, '/')).headers.location, '/login');
    assert.equal((await http(guarded, '/api/devices', { headers: { authorization: `Bearer ${token}x` } })).status, 401);
    assert.equal((await http(guarded, '/api/devices', { headers: { authorization: `Bearer ${token}` } })).status, 200);
    const form = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' } };
    assert.equal((await http(guarded, '/login', { ...form, body: 'token=wrong' })).status, 401);
    const login = await http(guarded, '/login', { ...form, body: `token=${token}` });
    assert.equal(login.status, 303);
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    assert.ok(!cookie.includes(token), 'the cookie does not carry the token');
    assert.match(String(login.headers['set-cookie']), /HttpOnly; SameSite=Strict/);
    assert.equal((await http(guarded, '/api/devices', { headers: { cookie } })).status, 200);
    assert.equal((await http(guarded, '/api/devices', { headers: { cookie: `${cookie}0` } })).status, 401);
  } finally {
    await guarded.stop();
  }
});

it('refuses to start beyond loopback without a token file, or with a short token: one line naming the setting, exit 1', async () => {
  const wide = await cli(CLOUD_BIN, ['run', ...BASE.flatMap((s) => ['--set', s]), '--set', 'broker.embedded=true', '--set', 'console.port=0', '--set', 'console.host=0.0.0.0'], { timeoutMs: 60_000 });
  assert.equal(wide.code, 1);
  assert.equal(stderrLines(wide).length, 1);
  assert.match(wide.stderr, /console\.tokenFile: required when console\.host \(0\.0\.0\.0\) is not a loopback address/);
  const shortFile = join(dir, 'short.token');
  writeFileSync(shortFile, 'abc\n');
  await assert.rejects(start([`console.tokenFile=${shortFile}`]), /^ConsoleTokenError: console\.tokenFile \(.*short\.token\): the token has 3 characters; expected at least 16/);
});

it('splitoculo-cloud check verifies the console: the token file and the history file', async () => {
  const shortFile = join(dir, 'check-short.token');
  writeFileSync(shortFile, 'abc\n');
  const history = join(dir, 'check', 'history.db');
  const sets = [...BASE, `mqtt.url=${broker.url}`, `dedup.path=${join(dir, 'answered.db')}`, 'console.port=8088', `console.tokenFile=${shortFile}`, `console.historyPath=${history}`];
  const result = await cli(CLOUD_BIN, ['check', ...sets.flatMap((s) => ['--set', s])], { timeoutMs: 120_000 });
  assert.equal(result.code, 1);
  assert.match(result.stdout, /^FAIL console: console\.tokenFile \(.*check-short\.token\): the token has 3 characters; expected at least 16/m);
  assert.match(result.stdout, new RegExp(`^ok   console history: ${history.replace(/[.]/g, '\\.')}: writable in `, 'm'));
});

it('a console port already in use is one line naming console.port', async () => {
  await assert.rejects(start([`console.port=${console_.port}`, 'console.mqtt.clientId=console-second']), /^ConsolePortError: console\.port \d+: cannot listen on 127\.0\.0\.1:\d+: already in use/);
});

it('a console that failed to start leaves no MQTT connection behind', async () => {
  const failed = create([`console.port=${console_.port}`, 'console.mqtt.clientId=console-failed-start']);
  await assert.rejects(failed.start(), /already in use/);
  assert.equal(failed.connected, false, 'its connection was closed');
  assert.equal(console_.connected, true);
});
