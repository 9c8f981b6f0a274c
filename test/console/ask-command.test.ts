// `splitoculo-cloud ask` through the real CLI against a real mosquitto, with a
// scripted device on the other side: the answer that echoes the request id is
// printed (control characters escaped), and a refusal, an error answer or no
// answer at all is one line and exit 1. (Against a real edge daemon: the
// console's browser test.)
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { encodeAnswer } from '../../protocol/answer.ts';
import { parseCommand } from '../../protocol/commands.ts';
import { encodeStatus, onlineStatus } from '../../protocol/status.ts';
import { TopicMap } from '../../protocol/topics.ts';
import { CLOUD_BIN, cli, stderrLines } from '../helpers/cli.ts';
import { Mosquitto } from '../helpers/mosquitto.ts';

const topics = new TopicMap();
const dir = mkdtempSync(join(tmpdir(), 'ask-command-'));
const config = join(dir, 'cloud.json');
let broker: Mosquitto;
let device: MqttClient;
/** What the scripted device does with an ask: answer with this text, an error, refuse it, or stay silent. */
let behaviour: { answer: string } | { error: string; statusFirst?: boolean } | { ends: 'failed' | 'timed-out' } | 'refuse' | 'silent' = 'silent';
const base = { version: '0.1.0', node: 'v24.21.0', codec: 'neural' as const, paused: false, intervalMs: 1000, prompt: null, captured: 1 };

before(async () => {
  broker = await Mosquitto.start();
  writeFileSync(config, JSON.stringify({ models: { paths: ['models/tiny'] }, answerer: { type: 'local', qwen: 'models/tiny-qwen' }, dedup: { path: join(dir, 'd.db') }, mqtt: { url: broker.url } }));
  device = await mqtt.connectAsync(broker.url, { clientId: 'ask-test-device' });
  await device.subscribeAsync(topics.command('cam1'), { qos: 1 });
  device.on('message', (_topic, payload) => {
    const command = parseCommand(payload);
    if (command.command !== 'ask') return;
    if (behaviour === 'silent') return;
    if (behaviour === 'refuse') {
      const status = onlineStatus('cam1', { ...base, lastCommand: { ok: false, command: 'ask', id: command.id, error: 'an ask is pending (id earlier-1)', at: new Date().toISOString() } });
      void device.publishAsync(topics.status('cam1'), encodeStatus(status), { qos: 1, retain: true });
      return;
    }
    if ('ends' in behaviour) {
      const status = onlineStatus('cam1', { ...base, lastAsk: { id: command.id!, outcome: behaviour.ends, at: new Date().toISOString() } });
      void device.publishAsync(topics.status('cam1'), encodeStatus(status), { qos: 1, retain: true });
      return;
    }
    const outcome = 'answer' in behaviour ? { text: behaviour.answer } : { error: { code: 'answerer-failed' as const, message: behaviour.error } };
    const envelope = {
      v: 1 as const,
      frameId: '01900000-0000-7000-8000-0000000000c1',
      device: 'cam1',
      modelId: null,
      prompt: command.prompt,
      requestId: command.id,
      timings: { totalMs: 5 },
      answeredAt: new Date().toISOString(),
      ...outcome,
    };
    // Someone else's answer first: only the one with this request id counts.
    void device.publishAsync(topics.answer('cam1'), encodeAnswer({ ...envelope, requestId: null, text: 'not yours', error: undefined }), { qos: 1 });
    if ('statusFirst' in behaviour) {
      // The device's status saying the ask failed overtakes the error answer by 300 ms.
      const status = onlineStatus('cam1', { ...base, lastAsk: { id: command.id!, outcome: 'failed', at: new Date().toISOString() } });
      void device.publishAsync(topics.status('cam1'), encodeStatus(status), { qos: 1, retain: true });
      setTimeout(() => void device.publishAsync(topics.answer('cam1'), encodeAnswer(envelope), { qos: 1 }), 300);
      return;
    }
    void device.publishAsync(topics.answer('cam1'), encodeAnswer(envelope), { qos: 1 });
  });
});

after(async () => {
  await device?.endAsync(true);
  await broker?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const ask = (...args: string[]) => cli(CLOUD_BIN, ['ask', ...args, '-c', config], { timeoutMs: 60_000 });

it('prints the answer that echoes its request id, with control characters escaped', async () => {
  behaviour = { answer: 'a cat\u001b[2J on the \u009bmat' };
  const result = await ask('cam1', 'What is on the mat?', '--timeout', '20');
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'a cat\\x1b[2J on the \\x9bmat\n');
  assert.match(result.stderr, /^cam1 answered request c-[a-z0-9]+-[0-9a-f]+ in \d+\.\d s\n$/);
});

it('a refusal by the device, an error answer, or no answer in time: one line, exit 1', async () => {
  behaviour = 'refuse';
  const refused = await ask('cam1', 'Again?', '--timeout', '20');
  assert.equal(refused.code, 1);
  assert.deepEqual(stderrLines(refused), ['splitoculo-cloud: error: ask cam1: refused by the device: an ask is pending (id earlier-1)']);
  for (const statusFirst of [false, true]) {
    behaviour = statusFirst ? { error: 'vLLM unreachable', statusFirst } : { error: 'vLLM unreachable' };
    const failed = await ask('cam1', 'Anything?', '--timeout', '20');
    assert.equal(failed.code, 1);
    assert.deepEqual(stderrLines(failed), ['splitoculo-cloud: error: ask cam1: the answer is an error: answerer-failed: vLLM unreachable'], `status first: ${statusFirst}`);
  }
  // The device ends the ask without an answer (no picture, or its own timeout): said at once, not after --timeout.
  for (const ends of ['failed', 'timed-out'] as const) {
    behaviour = { ends };
    const started = Date.now();
    const ended = await ask('cam1', 'Door?', '--timeout', '60');
    assert.equal(ended.code, 1);
    assert.deepEqual(stderrLines(ended).length, 1);
    assert.match(ended.stderr, ends === 'failed' ? /^splitoculo-cloud: error: ask cam1: the ask failed at the device \(/ : /^splitoculo-cloud: error: ask cam1: the ask timed out at the device/);
    assert.ok(Date.now() - started < 50_000, 'not after --timeout');
  }
  behaviour = 'silent';
  const silent = await ask('cam1', 'Hello?', '--timeout', '1');
  assert.equal(silent.code, 1);
  assert.match(stderrLines(silent).join('\n'), /^splitoculo-cloud: error: ask cam1: no answer to request c-\S+ within 1 s \(online\)$/);
  const nobody = await ask('cam9', 'Hello?', '--timeout', '1');
  assert.match(stderrLines(nobody).join('\n'), /^splitoculo-cloud: error: ask cam9: no answer to request \S+ within 1 s \(no status seen from it\)$/);
});

it('bad input is refused before anything is sent: an empty prompt, a bad device id, a bad --timeout', async () => {
  const empty = await ask('cam1', '  ');
  assert.equal(empty.code, 1);
  assert.deepEqual(stderrLines(empty), ['splitoculo-cloud: error: ask "prompt": must not be empty']);
  const badId = await ask('cam/1', 'x');
  assert.equal(badId.code, 1);
  assert.equal(stderrLines(badId).length, 1);
  assert.match(badId.stderr, /ask <device>/);
  const badTimeout = await ask('cam1', 'x', '--timeout', 'soon');
  assert.equal(badTimeout.code, 2);
  assert.match(badTimeout.stderr, /expected seconds/);
});
