// Issue 15, finding 4: anyone able to publish on a device's answer topic sent
// 300 answers for frame ids the board never sent; the edge ran 302 hook
// processes at once, pushed its real answers out of the store (maxAnswers 50)
// and grew answers.jsonl without end. Here the same through a real mosquitto
// and the real edge daemon: forged answers are counted and ignored, real ones
// stored and hooked, the hook bounded, the JSON-lines file rotated; the ids
// awaiting answers survive a restart (and a crash: test/daemon/answers-after-crash.test.ts).
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { answerHook, CommandRunner, RotatingLines } from '../../daemon/control/answer-sink.ts';
import { ExpectedAnswers } from '../../daemon/control/expected-answers.ts';
import { configSchema } from '../../daemon/config/schema.ts';
import { SqliteOutbox } from '../../daemon/outbox/sqlite-outbox.ts';
import { encodeAnswer, type AnswerEnvelope } from '../../protocol/answer.ts';
import { FrameIdGenerator } from '../../protocol/wire/frame-id.ts';
import type { WireFrame } from '../../protocol/wire/frame.ts';
import { edgeCase } from '../helpers/edge-case.ts';
import { EdgeProcess, stopAllEdges } from '../helpers/edge-process.ts';
import { FrameCollector } from '../helpers/frame-collector.ts';
import { scrapeMetric, waitForMetric } from '../helpers/metrics.ts';
import { freePort, Mosquitto } from '../helpers/mosquitto.ts';
import { storedAnswerList } from '../helpers/outbox-state.ts';
import { FRAMES_DIR } from '../helpers/paths.ts';
import { waitFor } from '../helpers/wait.ts';

const root = mkdtempSync(join(tmpdir(), 'splitoculo-flood-'));
after(() => rmSync(root, { recursive: true, force: true }));
afterEach(stopAllEdges);

const images = join(root, 'images');
mkdirSync(images);
for (const f of ['chelsea.png', 'coffee.png', 'coins.png']) copyFileSync(join(FRAMES_DIR, f), join(images, f));

const DEVICE = 'flood-cam';
const TOPIC = `splitoculo/v1/${DEVICE}/answer`;

function answerFor(frame: Pick<WireFrame, 'frameId' | 'modelId' | 'sequence'>, text: string): Buffer {
  const envelope: AnswerEnvelope = {
    v: 1,
    frameId: frame.frameId,
    device: DEVICE,
    modelId: frame.modelId,
    sequence: frame.sequence,
    prompt: null,
    text,
    tokens: 3,
    timings: { totalMs: 5 },
    answeredAt: new Date().toISOString(),
  };
  return encodeAnswer(envelope);
}

/** A hook that records each start and end (to find the most running at once) and takes 300 ms. */
function recordingHook(dir: string): { command: string[]; log: string } {
  const log = join(dir, 'hook.log');
  writeFileSync(log, '');
  return { command: ['sh', '-c', `echo start >> ${log}; sleep 0.3; echo end >> ${log}`], log };
}

function hookStats(log: string): { started: number; maxRunning: number } {
  let running = 0;
  let maxRunning = 0;
  let started = 0;
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    if (line === 'start') {
      started += 1;
      maxRunning = Math.max(maxRunning, ++running);
    } else if (line === 'end') running -= 1;
  }
  return { started, maxRunning };
}

describe('answer flood', () => {
  let broker: Mosquitto;
  before(async () => {
    broker = await Mosquitto.start();
  });
  after(async () => broker.dispose());

  it('300 forged answers for ids never sent: counted and ignored; the real answers stay stored, hooked once each; the file holds only them', async () => {
    const metricsPort = await freePort();
    const collector = await FrameCollector.connect(broker.url, 'flood-collector', `splitoculo/v1/${DEVICE}/frame`);
    const caseDir = join(root, 'flood');
    mkdirSync(caseDir);
    const hook = recordingHook(caseDir);
    const jsonl = join(caseDir, 'answers.jsonl');
    const { config, path } = edgeCase(root, {
      device: { id: DEVICE },
      camera: { type: 'directory', path: images },
      capture: { intervalMs: 50 },
      mqtt: { url: broker.url },
      metrics: { port: metricsPort },
      outbox: { maxAnswers: 50 },
      answers: { jsonlFile: jsonl, command: hook.command },
    });
    const edge = new EdgeProcess(path);
    const outboxPath = (config.outbox as { path: string }).path;
    await edge.waitFor((line) => line.msg === 'edge daemon running', 60_000, 'the daemon running');
    await collector.waitForCount(3, 60_000);
    const forger = await mqtt.connectAsync(broker.url, { clientId: 'forger' });
    // The real answers first (the cloud's), then the flood: before, the flood pushed them out of the 50 kept.
    for (const frame of collector.frames.slice(0, 3)) await forger.publishAsync(TOPIC, answerFor(frame, `real ${frame.sequence}\u001b]0;t\u0007\u009b`), { qos: 1 });
    await waitForMetric(metricsPort, 'splitoculo_answers_total', (n) => n === 3, { labels: { outcome: 'stored' } });
    const ids = new FrameIdGenerator();
    const forged = collector.frames[0]!;
    for (let i = 0; i < 300; i++) await forger.publishAsync(TOPIC, answerFor({ ...forged, frameId: ids.next() }, `forged ${i}`), { qos: 1 });
    // A replay of a real answer is a duplicate: neither stored again nor hooked again.
    await forger.publishAsync(TOPIC, answerFor(collector.frames[0]!, 'real again'), { qos: 1 });
    await waitForMetric(metricsPort, 'splitoculo_answers_total', (n) => n === 300, { labels: { outcome: 'unexpected' }, timeoutMs: 30_000 });
    await waitForMetric(metricsPort, 'splitoculo_answers_total', (n) => n === 1, { labels: { outcome: 'duplicate' } });
    await waitForMetric(metricsPort, 'splitoculo_answer_hooks_total', (n) => n === 3, { labels: { outcome: 'ok' }, timeoutMs: 10_000 });

    const stored = storedAnswerList(outboxPath);
    assert.deepEqual(
      stored.map((a) => a.text).sort(),
      collector.frames
        .slice(0, 3)
        .map((f) => `real ${f.sequence}\u001b]0;t\u0007\u009b`)
        .sort(),
    );
    assert.equal(await scrapeMetric(metricsPort, 'splitoculo_answers_total', { outcome: 'stored' }), 3);
    const { started, maxRunning } = hookStats(hook.log);
    assert.equal(started, 3, 'the hook ran for the real answers only');
    assert.ok(maxRunning <= 2, `at most answers.commandConcurrency (2) hooks at once, saw ${maxRunning}`);
    assert.equal(readFileSync(jsonl, 'utf8').trim().split('\n').length, 3);
    // The daemon's own answer lines (read on a terminal through pino-pretty) carry the text escaped.
    const logged = edge.lines.filter((line) => line.msg === 'answer').map((line) => String(line.text));
    assert.equal(logged.length, 3);
    for (const text of logged) assert.match(text, /^real \d+\\x1b\]0;t\\x07\\x9b$/);
    assert.equal(edge.child.exitCode, null, 'still serving');
    await forger.endAsync();
    await collector.close();
  });

  it('answers to frames sent before a restart are still accepted after it', async () => {
    const metricsPort = await freePort();
    const collector = await FrameCollector.connect(broker.url, 'restart-collector', `splitoculo/v1/${DEVICE}-r/frame`);
    const { config, path } = edgeCase(root, {
      device: { id: `${DEVICE}-r` },
      camera: { type: 'directory', path: images },
      capture: { intervalMs: 50, maxFrames: 2 },
      mqtt: { url: broker.url },
      metrics: { port: metricsPort },
    });
    const first = new EdgeProcess(path);
    await first.waitFor((line) => line.msg === 'edge daemon running', 60_000, 'the daemon running');
    await collector.waitForCount(2, 60_000);
    // Every frame acknowledged by the broker (it left the outbox), then a clean stop.
    await waitForMetric(metricsPort, 'splitoculo_frames_published_total', (n) => n === 2);
    assert.equal((await first.stop()).code, 0);
    const second = new EdgeProcess(path, ['--set', 'capture.paused=true']);
    await waitForMetric(metricsPort, 'splitoculo_answers_total', (n) => n === 0, { labels: { outcome: 'stored' } });
    const cloud = await mqtt.connectAsync(broker.url, { clientId: 'restart-cloud' });
    for (const frame of collector.frames.slice(0, 2)) {
      const envelope = JSON.parse(answerFor(frame, 'after the restart').toString());
      await cloud.publishAsync(`splitoculo/v1/${DEVICE}-r/answer`, JSON.stringify({ ...envelope, device: `${DEVICE}-r` }), { qos: 1 });
    }
    await waitForMetric(metricsPort, 'splitoculo_answers_total', (n) => n === 2, { labels: { outcome: 'stored' } });
    assert.equal(await scrapeMetric(metricsPort, 'splitoculo_answers_total', { outcome: 'unexpected' }), 0);
    assert.equal(storedAnswerList((config.outbox as { path: string }).path).length, 2);
    await second.stop();
    await cloud.endAsync();
    await collector.close();
  });
});

describe('answer hook bounds (real child processes)', () => {
  const quiet = pino({ level: 'silent' });

  it('at most `concurrency` programs at once, at most `queue` waiting, the rest dropped and counted', async () => {
    const dir = mkdtempSync(join(root, 'runner-'));
    const hook = recordingHook(dir);
    const outcomes: string[] = [];
    const runner = new CommandRunner(hook.command, { concurrency: 2, queue: 5 }, (o) => outcomes.push(o), quiet);
    for (let i = 0; i < 40; i++) runner.submit(`{"n":${i}}\n`);
    assert.equal(runner.running, 2);
    assert.equal(runner.waiting, 5);
    await waitFor(() => outcomes.filter((o) => o === 'ok').length === 7, { what: 'the 7 admitted runs', timeoutMs: 20_000 });
    assert.equal(outcomes.filter((o) => o === 'dropped').length, 33);
    const { started, maxRunning } = hookStats(hook.log);
    assert.equal(started, 7);
    assert.ok(maxRunning <= 2, `saw ${maxRunning} at once`);
  });

  it('answers.jsonlFile is rotated by size: never more than (jsonlFiles + 1) files of at most jsonlMaxBytes', () => {
    const dir = mkdtempSync(join(root, 'jsonl-'));
    const file = join(dir, 'answers.jsonl');
    const config = configSchema.shape.answers.parse({ jsonlFile: file, jsonlMaxBytes: 4096, jsonlFiles: 2 });
    const hook = answerHook(config, quiet);
    const frame = { frameId: '', modelId: '0123456789abcdef0123456789abcdef', sequence: 1 };
    const ids = new FrameIdGenerator();
    for (let i = 0; i < 300; i++) hook(JSON.parse(answerFor({ ...frame, frameId: ids.next() }, 'x'.repeat(100)).toString()));
    const files = readdirSync(dir).sort();
    assert.deepEqual(files, ['answers.jsonl', 'answers.jsonl.1', 'answers.jsonl.2']);
    for (const name of files) assert.ok(statSync(join(dir, name)).size <= 4096, `${name}: ${statSync(join(dir, name)).size} bytes`);
    const newest = readFileSync(file, 'utf8').trim().split('\n').at(-1)!;
    assert.equal(JSON.parse(newest).text, 'x'.repeat(100), 'the newest answer is in the current file');
    // The bound holds across a restart too: the size already on disk counts.
    const again = new RotatingLines(file, 4096, 2);
    for (let i = 0; i < 100; i++) again.append(`${'y'.repeat(300)}\n`);
    assert.ok(statSync(file).size <= 4096 && !existsSync(`${file}.3`));
  });

  it('the waiting ids are bounded; the oldest is forgotten first; the outbox keeps the acknowledged ones across a restart', () => {
    const dir = mkdtempSync(join(root, 'expected-'));
    const ids = new FrameIdGenerator();
    const sent = Array.from({ length: 6 }, () => ids.next());
    const expected = new ExpectedAnswers({ maxExpected: 4 });
    for (const id of sent) expected.sent(id);
    assert.equal(expected.waiting, 4);
    assert.equal(expected.forgotten, 2);
    assert.equal(expected.take(sent[0]!), 'unexpected');
    assert.equal(expected.take(sent[5]!), 'expected');
    assert.equal(expected.take(sent[5]!), 'duplicate');
    // The durable list is the outbox: frames acknowledged by the broker await their answers there, closed without any stop hook.
    const path = join(dir, 'outbox.db');
    const limits = { maxRows: 100, maxBytes: 1_000_000, ttlMs: 0, policy: 'drop-oldest' as const, maxAnswers: 10 };
    const outbox = new SqliteOutbox({ path, limits });
    const frames = Array.from({ length: 3 }, () => outbox.nextIdentity());
    for (const frame of frames) outbox.enqueue({ ...frame, capturedAt: Date.now(), bytes: new Uint8Array(10) });
    outbox.ack(frames.map((f) => f.sequence));
    outbox.close();
    const reopened = new SqliteOutbox({ path, limits });
    const restarted = new ExpectedAnswers({ maxExpected: 4, held: (id) => reopened.isAwaitingAnswer(id) });
    assert.deepEqual(
      frames.map((f) => restarted.take(f.frameId)),
      ['expected', 'expected', 'expected'],
    );
    assert.equal(restarted.take(sent[1]!), 'unexpected', 'never stored in this outbox');
    reopened.close();
  });
});
