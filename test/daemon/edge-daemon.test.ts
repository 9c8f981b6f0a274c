// The edge daemon as users run it: a real child process, a real mosquitto,
// real SQLite files, the committed tiny models and the sample images.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { merge } from '../../daemon/config/load.ts';
import { parseStatus } from '../../protocol/status.ts';
import { EDGE_BIN, EdgeProcess, stopAllEdges, writeConfig, type LogLine } from '../helpers/edge-process.ts';
import { TcpRelay } from '../helpers/tcp-proxy.ts';
import { FrameCollector } from '../helpers/frame-collector.ts';
import { freePort, Mosquitto } from '../helpers/mosquitto.ts';
import { waitUntil } from '../helpers/wait.ts';
import { FRAMES_DIR, TINY_MODEL_DIR } from '../helpers/paths.ts';

const run = promisify(execFile);
const root = mkdtempSync(join(tmpdir(), 'splitoculo-edge-'));
after(() => rmSync(root, { recursive: true, force: true }));

const GOOD = ['astronaut.png', 'chelsea.png', 'coffee.png', 'coins.png', 'rocket.jpg', 'text.png'];
function imageDir(name: string, files: string[]): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const f of files) copyFileSync(join(FRAMES_DIR, f), join(dir, f));
  return dir;
}
const goodImages = imageDir('good', GOOD);

let cases = 0;
function setup(brokerUrl: string, overrides: Record<string, unknown> = {}) {
  const dir = join(root, `case-${cases++}`);
  mkdirSync(dir);
  const config = merge(
    {
      device: { id: 'test-cam' },
      model: { path: TINY_MODEL_DIR, threads: 1 },
      camera: { type: 'directory', path: goodImages },
      capture: { intervalMs: 100 },
      outbox: { path: join(dir, 'outbox.db') },
      mqtt: { url: brokerUrl, link: 'lan', backoffInitialMs: 100, backoffMaxMs: 400, pubackTimeoutMs: 3000 },
      log: { level: 'debug' },
    },
    overrides,
  );
  return { dir, config, path: writeConfig(dir, config) };
}

const queued = (l: LogLine) => l.msg === 'frame queued';
const acked = (l: LogLine) => l.msg === 'frame acknowledged';
const finished = (l: LogLine) => l.msg === 'capture finished; the queue keeps draining';
const seqs = (edge: EdgeProcess, predicate: (l: LogLine) => boolean) => edge.lines.filter(predicate).map((l) => l.sequence as number);

async function queueStatus(configPath: string) {
  const { stdout } = await run(process.execPath, [EDGE_BIN, 'queue', 'status', '-c', configPath, '--json']);
  return JSON.parse(stdout);
}

afterEach(stopAllEdges);

describe('edge daemon with a real broker', () => {
  let broker: Mosquitto;
  before(async () => {
    broker = await Mosquitto.start();
  });
  after(async () => broker.dispose());

  it('queues while the broker is absent, then delivers every frame in order when it appears', async () => {
    // The daemon reaches the broker through a relay that is not listening yet;
    // the collector is connected to the broker all along.
    const relay = new TcpRelay(await freePort(), broker.port);
    const collector = await FrameCollector.connect(broker.url, 'collector-absent');
    const { path } = setup(relay.url, { capture: { maxFrames: 6 } });
    const edge = new EdgeProcess(path);
    await edge.waitFor(finished, 30_000, 'capture to finish');
    assert.equal(edge.count(queued), 6);
    assert.equal(edge.count(acked), 0);
    await relay.open();
    try {
      await collector.waitForCount(6);
      assert.deepEqual(collector.firstArrivals(), seqs(edge, queued));
      assert.deepEqual(
        seqs(edge, queued),
        [...seqs(edge, queued)].sort((a, b) => a - b),
      );
      await waitUntil(() => edge.count(acked) >= 6, 5000, 'acks');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(collector.frames.length, 6, 'no frame is published twice on a healthy link');
      const exit = await edge.stop();
      assert.equal(exit.code, 0, edge.stderr);
      assert.equal((await queueStatus(path)).rows, 0);
    } finally {
      await relay.close();
      await collector.close();
    }
  });

  it('survives the broker being killed and restarted mid-stream', async () => {
    const collector = await FrameCollector.connect(broker.url, 'collector-restart');
    await new Promise((r) => setTimeout(r, 1500));
    const { path } = setup(broker.url, { camera: { type: 'directory', path: goodImages, loop: true }, capture: { maxFrames: 24, intervalMs: 80 } });
    const edge = new EdgeProcess(path);
    await waitUntil(() => edge.count(acked) >= 6, 20_000, 'six acks before the kill');
    await broker.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, 700));
    await broker.start();
    await edge.waitFor(finished, 30_000, 'capture to finish');
    const all = seqs(edge, queued);
    assert.equal(all.length, 24);
    await collector.waitForCount(24, 30_000);
    assert.deepEqual(new Set(collector.sequences()), new Set(all));
    assert.deepEqual(
      collector.firstArrivals(),
      [...collector.firstArrivals()].sort((a, b) => a - b),
    );
    assert.ok(edge.count((l) => l.msg === 'disconnected from the broker') >= 1);
    assert.equal((await edge.stop()).code, 0);
    await collector.close();
  });

  it('loses nothing and stores nothing twice when killed with SIGKILL and restarted', async () => {
    const collector = await FrameCollector.connect(broker.url, 'collector-sigkill');
    const { path, config } = setup(broker.url, { camera: { type: 'directory', path: goodImages, loop: true }, capture: { intervalMs: 40 } });
    const first = new EdgeProcess(path);
    await waitUntil(() => first.count(queued) >= 8, 20_000, 'frames before the kill');
    await first.stop('SIGKILL');
    const before = seqs(first, queued);
    const second = new EdgeProcess(path, ['--set', 'capture.maxFrames=5']);
    await second.waitFor(finished, 30_000, 'second run to finish capturing');
    const afterRestart = seqs(second, queued);
    assert.ok(Math.min(...afterRestart) > Math.max(...before), 'sequences continue after the restart');
    const accepted = [...before, ...afterRestart];
    await collector.waitForCount(accepted.length, 20_000);
    const delivered = new Set(collector.sequences());
    for (const s of accepted) assert.ok(delivered.has(s), `frame ${s} was accepted but never delivered`);
    // A frame id always travels with the same sequence: a redelivery, never a second copy.
    const idBySequence = new Map<number, string>();
    for (const f of collector.frames) {
      assert.equal(idBySequence.get(f.sequence) ?? f.frameId, f.frameId);
      idBySequence.set(f.sequence, f.frameId);
    }
    assert.equal(new Set(idBySequence.values()).size, idBySequence.size);
    await waitUntil(() => second.count(acked) >= afterRestart.length, 10_000, 'drain');
    assert.equal((await second.stop()).code, 0);
    const db = new Database((config.outbox as { path: string }).path, { readonly: true });
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    db.close();
    await collector.close();
  });

  it('applies commands, reports bad ones on the status topic, and stores each answer once', async () => {
    const { path } = setup(broker.url, {
      camera: { type: 'file', path: join(goodImages, 'coins.png') },
      capture: { paused: true },
      answers: { jsonlFile: join(root, 'answers.jsonl') },
    });
    const collector = await FrameCollector.connect(broker.url, 'collector-commands');
    const edge = new EdgeProcess(path);
    const operator = await mqtt.connectAsync(broker.url);
    const statuses: Array<Record<string, unknown>> = [];
    operator.on('message', (_t, p) => statuses.push(JSON.parse(p.toString())));
    await operator.subscribeAsync('splitoculo/v1/test-cam/status', { qos: 1 });
    // The edge publishes its online status after subscribing to its commands: a command sent once it is seen is not lost
    // (a command sent on the 'connected' log line could beat the subscription to the broker).
    await waitUntil(() => statuses.some((s) => s.state === 'online'), 15_000, 'the edge online');
    await operator.publishAsync('splitoculo/v1/test-cam/command', JSON.stringify({ command: 'set-prompt', prompt: 'How many coins?' }), { qos: 1 });
    await operator.publishAsync('splitoculo/v1/test-cam/command', JSON.stringify({ command: 'capture' }), { qos: 1 });
    await collector.waitForCount(1);
    const frame = collector.frames[0]!;
    assert.equal(frame.prompt, 'How many coins?');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(edge.count(queued), 1, 'paused: only the commanded capture');

    await operator.publishAsync('splitoculo/v1/test-cam/command', JSON.stringify({ command: 'self-destruct' }), { qos: 1 });
    await waitUntil(() => statuses.some((s) => (s.lastCommand as { ok?: boolean } | undefined)?.ok === false), 5000, 'error status');
    const bad = statuses.find((s) => (s.lastCommand as { ok?: boolean } | undefined)?.ok === false)!;
    assert.match((bad.lastCommand as { error: string }).error, /^command: command: /);
    assert.equal(bad.state, 'online');
    // Every document on the status topic is the contract of protocol/status.ts, model id included (the model opens before the broker connects).
    for (const s of statuses) parseStatus(JSON.stringify(s));
    assert.ok(
      statuses.some((s) => (s.lastCommand as { command?: string } | undefined)?.command === 'capture'),
      'each applied command is reported',
    );
    assert.match(String(bad.modelId), /^[0-9a-f]{32}$/);
    assert.equal(bad.prompt, 'How many coins?');

    const answer = {
      v: 1,
      frameId: frame.frameId,
      device: 'test-cam',
      modelId: frame.modelId,
      sequence: frame.sequence,
      prompt: frame.prompt,
      text: 'Twenty-four coins.',
      tokens: 5,
      timings: { totalMs: 12 },
      answeredAt: new Date().toISOString(),
    };
    for (let i = 0; i < 2; i++) await operator.publishAsync('splitoculo/v1/test-cam/answer', JSON.stringify(answer), { qos: 1 });
    await operator.publishAsync('splitoculo/v1/test-cam/answer', '{"not":"an answer"}', { qos: 1 });
    await edge.waitFor((l) => l.msg === 'answer' && l.frameId === frame.frameId);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(
      edge.count((l) => l.msg === 'answer'),
      1,
    );
    assert.equal(
      edge.count((l) => l.msg === 'inbound message rejected'),
      1,
    );
    assert.equal(readFileSync(join(root, 'answers.jsonl'), 'utf8').trim().split('\n').length, 1);
    const listed = await run(process.execPath, [EDGE_BIN, 'answers', '-c', path, '--json']);
    const rows = listed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(rows.length, 1);
    assert.equal(rows[0].text, 'Twenty-four coins.');
    assert.equal((await edge.stop()).code, 0);
    await operator.endAsync();
    await collector.close();
  });
});

describe('edge daemon without a broker', () => {
  let nowhere: string;
  before(async () => {
    nowhere = `mqtt://127.0.0.1:${await freePort()}`;
  });

  for (const [policy, expect] of [
    ['drop-oldest', { rows: 3, kept: [4, 5, 6], evicted: 'drop-oldest' }],
    ['drop-newest', { rows: 3, kept: [1, 2, 3], evicted: 'drop-newest' }],
    ['reject', { rows: 3, kept: [1, 2, 3], evicted: null }],
  ] as const) {
    it(`holds its bound under ${policy}`, async () => {
      const { dir, path } = setup(nowhere, { outbox: { maxFrames: 3, policy }, capture: { maxFrames: 6 } });
      const edge = new EdgeProcess(path);
      await edge.waitFor(finished, 30_000, 'capture to finish');
      assert.equal((await edge.stop()).code, 0);
      const status = await queueStatus(path);
      assert.equal(status.rows, expect.rows);
      if (expect.evicted) assert.equal(status.evicted[expect.evicted], 3);
      else {
        assert.equal(status.rejected, 3);
        assert.equal(
          edge.count((l) => l.msg === 'frame rejected: outbox full'),
          3,
        );
      }
      await run(process.execPath, [EDGE_BIN, 'queue', 'export', '-c', path, '--out', join(dir, 'export')]);
      const kept = readdirSync(join(dir, 'export')).map((f) => Number(f.split('-')[0]));
      assert.deepEqual(kept, [...expect.kept]);
    });
  }

  it('skips a corrupt camera image with a log line and a counter, and keeps going', async () => {
    const images = imageDir('with-corrupt', ['chelsea.png', 'truncated.jpg', 'text.png']);
    const { path } = setup(nowhere, { camera: { type: 'directory', path: images }, metrics: { port: 0 } });
    const edge = new EdgeProcess(path);
    const metricsLine = await edge.waitFor((l) => l.msg === 'metrics at /metrics');
    await edge.waitFor(finished, 30_000, 'capture to finish');
    const skipped = await edge.waitFor((l) => l.msg === 'corrupt image skipped');
    assert.equal(skipped.image, 'truncated.jpg');
    assert.equal(edge.count(queued), 2);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsLine.port}/metrics`)).text();
    assert.match(metrics, /splitoculo_frames_dropped_total\{reason="corrupt-image"\} 1/);
    assert.match(metrics, /splitoculo_frames_queued_total 2/);
    assert.match(metrics, /splitoculo_link_up 0/);
    assert.equal(edge.child.exitCode, null, 'still running');
    assert.equal((await edge.stop('SIGINT')).code, 0);
  });

  it('rejects an invalid config, naming the path and what was expected', async () => {
    const { path } = setup(nowhere, { outbox: { policy: 'drop-random' } });
    const result = await run(process.execPath, [EDGE_BIN, 'run', '-c', path]).catch((e) => e);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /outbox\.policy: Invalid option: expected one of "drop-oldest"\|"drop-newest"\|"reject"/);
    const flag = await run(process.execPath, [EDGE_BIN, 'check', '-c', path, '--set', 'outbox.policy=reject', '--set', 'mqtt.inflight=0']).catch((e) => e);
    assert.equal(flag.code, 1);
    assert.match(flag.stderr, /mqtt\.inflight: Too small: expected number to be >=1/);
    const camera = await run(process.execPath, [EDGE_BIN, 'check', '-c', path, '--set', 'outbox.policy=reject', '--set', 'camera.type=webcam']).catch((e) => e);
    assert.match(camera.stderr, /camera\.type: /);
  });
});
