// Issue 15, findings 2 and 7, as an attacker does it: a real mosquitto, the
// real worker process with the tiny models, forged frames published by a
// plain MQTT client. Frame ids are chosen by senders, so the worker's dedup
// and replay state must be per device, consulted only after the device check
// and authentication, and never filled by refusals: a device reusing another
// device's frame id gets its own answer, a frame forged on evil/frame in a
// victim's name cannot answer the victim's genuine frame with the
// attacker's error, and 600 cheap refusals do not push a device's answers
// out so that a replayed old signed frame is inferred again.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { FrameIdGenerator } from '../../protocol/wire/frame-id.ts';
import { encodeFrame, type WireFrame } from '../../protocol/wire/frame.ts';
import { signFrame } from '../../protocol/wire/frame-auth.ts';
import { quantise } from '../../protocol/wire/quantise.ts';
import { AnswerCollector } from '../helpers/answer-collector.ts';
import { CLOUD_BIN, EdgeProcess, stopAllEdges, writeConfig } from '../helpers/edge-process.ts';
import { seededTokens } from '../helpers/frames.ts';
import { scrapeMetric, waitForMetric } from '../helpers/metrics.ts';
import { Mosquitto } from '../helpers/mosquitto.ts';
import { TINY_MODEL_DIR, TINY_QWEN_DIR } from '../helpers/paths.ts';
import { waitUntil } from '../helpers/wait.ts';

const TINY_ID = (JSON.parse(readFileSync(join(TINY_MODEL_DIR, 'manifest.json'), 'utf8')) as { modelId: string }).modelId;
const ids = new FrameIdGenerator();
const work = mkdtempSync(join(tmpdir(), 'splitoculo-cross-device-'));
const KEY = Buffer.alloc(32, 0x3c);
let broker: Mosquitto;
let attacker: MqttClient;
const collectors: AnswerCollector[] = [];

before(async () => {
  broker = await Mosquitto.start();
  attacker = await mqtt.connectAsync(broker.url, { clientId: 'attacker' });
  mkdirSync(join(work, 'keys'));
  writeFileSync(join(work, 'keys', 'cam-victim.key'), `${KEY.toString('hex')}\n`, { mode: 0o600 });
});
after(async () => {
  await attacker.endAsync(true);
  await broker.dispose();
  rmSync(work, { recursive: true, force: true });
});
afterEach(async () => {
  await stopAllEdges();
  await Promise.all(collectors.splice(0).map((c) => c.close()));
});

function frame(deviceId: string, sequence: number, prompt: string, frameId = ids.next()): WireFrame {
  return {
    codec: 'neural-u8',
    modelId: TINY_ID,
    deviceId,
    frameId,
    sequence,
    captureTimeMs: Date.now(),
    clockUnreliable: false,
    prompt,
    tokens: quantise(seededTokens(49, 64, sequence + 1), 49, 64, 'per-tensor'),
  };
}

const publish = (topicDevice: string, bytes: Uint8Array) => attacker.publishAsync(`splitoculo/v1/${topicDevice}/frame`, Buffer.from(bytes), { qos: 1 });
const signed = (f: WireFrame) => signFrame(encodeFrame(f), KEY);

/** Answers published on one device's answer topic (what that device receives). */
async function answersOf(device: string): Promise<AnswerCollector> {
  const collector = await AnswerCollector.connect(broker.url, `splitoculo/v1/${device}/answer`);
  collectors.push(collector);
  return collector;
}

async function startWorker(name: string, dedup: Record<string, unknown> = {}): Promise<{ worker: EdgeProcess; port: number }> {
  const config = {
    worker: { id: name, batchWaitMs: 5 },
    models: { paths: [TINY_MODEL_DIR], threads: 1 },
    answerer: { type: 'local', qwen: TINY_QWEN_DIR, maxNewTokens: 2, threads: 1 },
    mqtt: { url: broker.url, clientId: `worker-${name}` },
    dedup: { path: join(work, `${name}.db`), ...dedup },
    auth: { keysDir: join(work, 'keys') },
    metrics: { port: 0 },
  };
  const worker = new EdgeProcess(writeConfig(work, config, `${name}.json`), [], process.env, [process.execPath, CLOUD_BIN]);
  const port = (await worker.waitFor((l) => l.msg === 'metrics listening', 30_000, 'metrics port')).port as number;
  await worker.waitFor((l) => l.msg === 'cloud worker running', 30_000, 'worker start');
  return { worker, port };
}

const inferred = (port: number) => scrapeMetric(port, 'splitoculo_cloud_frames_answered_total');

describe('per-device answers (issue 15, findings 2 and 7)', () => {
  it("a device reusing another device's frame id gets its own answer, not the stored one", { timeout: 90_000 }, async () => {
    const { worker, port } = await startWorker('reuse');
    const [toA, toB] = [await answersOf('cam-a'), await answersOf('cam-b')];
    const original = frame('cam-a', 1, 'What is on the desk of A?');
    await publish('cam-a', encodeFrame(original));
    await toA.waitForFrames([original.frameId]);
    const reused = frame('cam-b', 1, 'Question of B', original.frameId);
    await publish('cam-b', encodeFrame(reused));
    await toB.waitForFrames([original.frameId]);
    const got = toB.answers[0]!;
    assert.equal(got.device, 'cam-b', `B received: ${toB.raw[0]}`);
    assert.equal(got.prompt, 'Question of B');
    assert.ok(!toB.raw.some((raw) => raw.includes('desk of A')), "nothing of A's answer reached B");
    assert.equal(await inferred(port), 2, "B's frame was inferred, not answered from A's entry");
    await worker.stop();
  });

  it("a frame forged on evil/frame in the victim's name does not answer the victim's genuine frame", { timeout: 90_000 }, async () => {
    const { worker, port } = await startWorker('poison');
    const [toEvil, toVictim] = [await answersOf('evil'), await answersOf('cam-victim')];
    const genuine = frame('cam-victim', 5, 'What is at the door?');
    await publish('evil', encodeFrame({ ...genuine, prompt: 'planted' })); // the victim's header device, a fresh id
    await toEvil.waitForFrames([genuine.frameId]);
    assert.equal(toEvil.answers[0]!.error?.code, 'device-mismatch');
    await publish('cam-victim', signed(genuine));
    await toVictim.waitForFrames([genuine.frameId]);
    const answer = toVictim.answers[0]!;
    assert.equal(answer.error, undefined, `the victim was answered with: ${toVictim.raw[0]}`);
    assert.equal(answer.device, 'cam-victim');
    assert.equal(typeof answer.text, 'string');
    assert.equal(await inferred(port), 1);
    await worker.stop();
  });

  it("600 cheap refused frames do not push a device's answer out: its replayed signed frame is answered from the store", { timeout: 120_000 }, async () => {
    const { worker, port } = await startWorker('evict', { maxEntries: 50 });
    const toVictim = await answersOf('cam-victim');
    const old = frame('cam-victim', 10, 'What is on the shelf?');
    await publish('cam-victim', signed(old));
    await toVictim.waitForFrames([old.frameId]);
    // 600 device-mismatch frames: cheap to send, refused at intake; each has a fresh frame id.
    for (let i = 0; i < 600; i++) await publish('evil', encodeFrame(frame('cam-victim', 100 + i, 'x')));
    await waitForMetric(port, 'splitoculo_cloud_frames_failed_total', (v) => v >= 600, { labels: { reason: 'device-mismatch' }, timeoutMs: 60_000 });
    // The victim keeps sending (newer sequences), then the attacker replays the captured old signed frame.
    const newer = frame('cam-victim', 20, 'And now?');
    await publish('cam-victim', signed(newer));
    await toVictim.waitForFrames([newer.frameId]);
    await publish('cam-victim', signed(old));
    await waitUntil(() => toVictim.answers.filter((a) => a.frameId === old.frameId).length === 2, 30_000, 'the replay answered');
    const copies = toVictim.raw.filter((raw) => raw.includes(old.frameId));
    assert.equal(copies[1], copies[0], 'the replay got the stored answer, byte for byte');
    assert.equal(await inferred(port), 2, 'the old frame was not inferred a second time');
    assert.equal(await scrapeMetric(port, 'splitoculo_cloud_duplicates_total'), 1);
    await worker.stop();
  });
});
