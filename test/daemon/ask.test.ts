// Ask, preview, state that lasts and a current status, as users see them: a
// real edge process, a real mosquitto, the tiny model and the sample images.
// The test answers frames as the cloud worker does, with the worker's own
// envelope builder (so its echo of the request id is what is tested).
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import sharp from 'sharp';
import { envelope } from '../../cloud/worker/frame-processor.ts';
import { encodeAnswer, parseAnswer, type AnswerEnvelope } from '../../protocol/answer.ts';
import { PREVIEW_MAX_BYTES, PREVIEW_MAX_SIDE } from '../../protocol/limits.ts';
import { parseStatus, type OnlineStatus, type StatusDocument } from '../../protocol/status.ts';
import { CLOUD_BIN, EdgeProcess, stopAllEdges, writeConfig } from '../helpers/edge-process.ts';
import { edgeCase } from '../helpers/edge-case.ts';
import { FrameCollector } from '../helpers/frame-collector.ts';
import { freePort, Mosquitto } from '../helpers/mosquitto.ts';
import { waitForMetric } from '../helpers/metrics.ts';
import { FRAMES_DIR, TINY_MODEL_DIR, TINY_QWEN_DIR } from '../helpers/paths.ts';
import { waitFor } from '../helpers/wait.ts';

const root = mkdtempSync(join(tmpdir(), 'splitoculo-ask-'));
after(() => rmSync(root, { recursive: true, force: true }));
afterEach(stopAllEdges);

const images = join(root, 'images');
mkdirSync(images);
for (const f of ['chelsea.png', 'coffee.png']) copyFileSync(join(FRAMES_DIR, f), join(images, f));

/** An operator: every status document and every preview of the device, and a way to send commands. */
class Operator {
  readonly statuses: StatusDocument[] = [];
  readonly previews: Buffer[] = [];
  readonly answers: AnswerEnvelope[] = [];
  readonly client: MqttClient;
  constructor(client: MqttClient) {
    this.client = client;
    client.on('message', (topic, payload) => {
      if (topic.endsWith('/status')) this.statuses.push(parseStatus(payload));
      else if (topic.endsWith('/preview')) this.previews.push(Buffer.from(payload));
      else if (topic.endsWith('/answer')) this.answers.push(parseAnswer(payload));
    });
  }
  static async connect(url: string, device: string): Promise<Operator> {
    const client = await mqtt.connectAsync(url, { clientId: `operator-${Math.random().toString(36).slice(2, 8)}` });
    const operator = new Operator(client);
    await client.subscribeAsync([`splitoculo/v1/${device}/status`, `splitoculo/v1/${device}/preview`, `splitoculo/v1/${device}/answer`], { qos: 1 });
    return operator;
  }
  online(): OnlineStatus[] {
    return this.statuses.filter((s): s is OnlineStatus => s.state === 'online');
  }
  latest(): OnlineStatus | undefined {
    return this.online().at(-1);
  }
  async send(device: string, command: Record<string, unknown>): Promise<void> {
    await this.client.publishAsync(`splitoculo/v1/${device}/command`, JSON.stringify(command), { qos: 1 });
  }
  async waitStatus(holds: (s: OnlineStatus) => boolean, what: string, timeoutMs = 20_000): Promise<OnlineStatus> {
    return waitFor(() => this.online().find(holds), { what, timeoutMs });
  }
  close(): Promise<void> {
    return this.client.endAsync(true);
  }
}

describe('ask, preview and state that lasts', () => {
  let broker: Mosquitto;
  before(async () => {
    broker = await Mosquitto.start();
  });
  after(async () => broker.dispose());

  it('an ask after a finished replay captures a frame with its prompt and request id; a second ask is refused; the answer clears it', async () => {
    const collector = await FrameCollector.connect(broker.url, 'ask-collector', 'splitoculo/v1/ask-cam/frame');
    const operator = await Operator.connect(broker.url, 'ask-cam');
    const { path } = edgeCase(root, {
      device: { id: 'ask-cam' },
      camera: { type: 'directory', path: images },
      capture: { intervalMs: 100 },
      status: { intervalSeconds: 1 },
      mqtt: { url: broker.url },
    });
    const edge = new EdgeProcess(path);
    await collector.waitForCount(2, 30_000);
    await operator.waitStatus((s) => s.captured === 2, 'both images captured');
    assert.equal(
      collector.frames.every((f) => (f.requestId ?? null) === null),
      true,
      'scheduled frames carry no request id',
    );

    await operator.send('ask-cam', { command: 'ask', prompt: 'Is there a cat?', id: 'q-1' });
    await operator.waitStatus((s) => s.pendingAsk?.id === 'q-1', 'the ask pending');
    await operator.send('ask-cam', { command: 'ask', prompt: 'And now?', id: 'q-2' });
    const refused = await operator.waitStatus((s) => s.lastCommand?.ok === false, 'the second ask refused');
    assert.deepEqual({ ...refused.lastCommand, at: undefined }, { ok: false, command: 'ask', id: 'q-2', error: 'an ask is pending (id q-1)', at: undefined });
    assert.equal(refused.pendingAsk?.id, 'q-1', 'the first ask stays pending');

    const asked = await waitFor(() => collector.frames.find((f) => f.requestId === 'q-1'), { what: 'the ask frame', timeoutMs: 20_000 });
    assert.equal(asked.prompt, 'Is there a cat?');
    assert.equal(collector.frames.filter((f) => f.requestId === 'q-2').length, 0, 'the refused ask made no frame');

    // Answered as the worker answers: its envelope builder echoes the frame's request id.
    const answer = envelope({ deviceId: 'ask-cam', receivedAt: performance.now(), frame: asked }, 'test-worker', { text: 'A cat on a sofa.', tokens: 5 }, {});
    assert.equal(answer.requestId, 'q-1');
    await operator.client.publishAsync('splitoculo/v1/ask-cam/answer', encodeAnswer(answer), { qos: 1 });
    const done = await operator.waitStatus((s) => s.lastAsk?.id === 'q-1', 'the ask answered');
    assert.equal(done.pendingAsk, null);
    assert.equal(done.lastAsk?.outcome, 'answered');
    assert.ok(done.lastAnswerAt && done.lastFrameAt && done.codecs && done.codecs.neural >= 3, JSON.stringify(done));
    assert.equal(done.model, 'tiny');

    // A scheduled frame's answer echoes nothing.
    const plain = envelope({ deviceId: 'ask-cam', receivedAt: performance.now(), frame: collector.frames[0]! }, 'w', { text: 'x', tokens: 1 }, {});
    assert.equal('requestId' in plain, false);

    // Free again: the next ask is taken.
    await operator.send('ask-cam', { command: 'ask', prompt: 'Once more?', id: 'q-3' });
    await waitFor(() => collector.frames.find((f) => f.requestId === 'q-3'), { what: 'the third ask frame' });
    await edge.stop();
    await Promise.all([collector.close(), operator.close()]);
  });

  /** An edge replaying a good file then a corrupt one (the replay ends on it), with a frame collector and an operator. */
  async function corruptLastFile(device: string, capture: Record<string, unknown>) {
    const mixed = join(root, device);
    mkdirSync(mixed);
    copyFileSync(join(FRAMES_DIR, 'coffee.png'), join(mixed, 'a.png'));
    writeFileSync(join(mixed, 'b.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3]));
    const collector = await FrameCollector.connect(broker.url, `${device}-collector`, `splitoculo/v1/${device}/frame`);
    const operator = await Operator.connect(broker.url, device);
    const { path } = edgeCase(root, { device: { id: device }, camera: { type: 'directory', path: mixed }, capture, status: { intervalSeconds: 1 }, mqtt: { url: broker.url } });
    const edge = new EdgeProcess(path);
    const askFrame = async (id: string) => {
      await operator.send(device, { command: 'ask', prompt: 'Still there?', id });
      const asked = await waitFor(() => collector.frames.find((f) => f.requestId === id), { what: 'the ask frame' });
      assert.equal(asked.prompt, 'Still there?');
    };
    const close = async () => {
      await edge.stop();
      await Promise.all([collector.close(), operator.close()]);
    };
    return { operator, askFrame, close };
  }

  it('an ask after a replay whose last file is corrupt re-encodes the last good image', async () => {
    const { operator, askFrame, close } = await corruptLastFile('corrupt-cam', { intervalMs: 100 });
    await operator.waitStatus((s) => s.captured === 2 && s.codecs?.neural === 1, 'both files read, one frame made', 30_000);
    await askFrame('c-1');
    await close();
  });

  it("an ask whose own picture is a replay's last file, corrupt, re-encodes the last good image (the ask is not stranded)", async () => {
    // Paused, so no timer takes the corrupt file first: the ask's own tick reads it and the replay ends there.
    const { operator, askFrame, close } = await corruptLastFile('stranded-cam', { intervalMs: 100, paused: true });
    await operator.waitStatus(() => true, 'the device online', 30_000);
    await operator.send('stranded-cam', { command: 'capture' });
    await operator.waitStatus((s) => s.captured === 1 && s.codecs?.neural === 1, 'the first file made a frame');
    await askFrame('s-1');
    const status = await operator.waitStatus((s) => s.captured === 2, 'the corrupt file read');
    assert.equal(status.pendingAsk?.id, 's-1', 'still pending: its frame is out, its answer not yet');
    await close();
  });

  it('end to end with the real cloud worker: the answer carries the request id and ends the ask', async (t) => {
    const operator = await Operator.connect(broker.url, 'e2e-cam');
    const workerConfig = {
      worker: { id: 'ask-worker', batchWaitMs: 20 },
      models: { paths: [TINY_MODEL_DIR], threads: 1 },
      answerer: { type: 'local', qwen: TINY_QWEN_DIR, maxNewTokens: 4, threads: 1 },
      mqtt: { url: broker.url, clientId: 'ask-worker' },
      dedup: { path: join(root, 'ask-worker-answered.db') },
    };
    const worker = new EdgeProcess(writeConfig(root, workerConfig, 'ask-worker.json'), [], process.env, [process.execPath, CLOUD_BIN]);
    await worker.waitFor((l) => l.msg === 'cloud worker running', 60_000, 'the worker running');
    const { path } = edgeCase(root, {
      device: { id: 'e2e-cam' },
      camera: { type: 'directory', path: images },
      capture: { intervalMs: 100 },
      status: { intervalSeconds: 1 },
      mqtt: { url: broker.url },
    });
    const edge = new EdgeProcess(path);
    await operator.waitStatus((s) => s.captured === 2, 'the replay finished', 30_000);
    const asked = performance.now();
    await operator.send('e2e-cam', { command: 'ask', prompt: 'What is on the table?', id: 'e2e-1' });
    const answer = await waitFor(() => operator.answers.find((a) => a.requestId === 'e2e-1'), { what: 'the answer to the ask', timeoutMs: 60_000 }).catch((e) => {
      throw new Error(
        `${e.message}; answers ${JSON.stringify(operator.answers.map((a) => [a.requestId, a.text, a.error]))}; worker ${JSON.stringify(worker.lines.slice(-8))} edge ${JSON.stringify(edge.lines.filter((l) => (l.level as number) >= 40).slice(-5))} ${worker.stderr}`,
      );
    });
    t.diagnostic(`ask to answer: ${Math.round(performance.now() - asked)} ms (worker total ${answer.timings.totalMs} ms)`);
    assert.equal(answer.prompt, 'What is on the table?');
    assert.equal(answer.device, 'e2e-cam');
    assert.equal(typeof answer.text, 'string', JSON.stringify(answer.error));
    const done = await operator.waitStatus((s) => s.lastAsk?.id === 'e2e-1', 'the ask ended');
    assert.deepEqual([done.lastAsk?.outcome, done.pendingAsk], ['answered', null]);
    assert.ok(
      operator.answers.filter((a) => a.requestId !== 'e2e-1').every((a) => (a.requestId ?? null) === null),
      'scheduled frames are answered without one',
    );
    await edge.stop();
    await worker.stop();
    await operator.close();
  });

  it("an ask's frame goes out before a backlog", async () => {
    const collector = await FrameCollector.connect(broker.url, 'backlog-collector', 'splitoculo/v1/backlog-cam/frame');
    const operator = await Operator.connect(broker.url, 'backlog-cam');
    // A budget of about one frame a second against ten captures a second: the outbox fills.
    const { path } = edgeCase(root, {
      device: { id: 'backlog-cam' },
      camera: { type: 'directory', path: images, loop: true },
      capture: { intervalMs: 100 },
      status: { intervalSeconds: 1 },
      mqtt: { url: broker.url, bytesPerSecond: 3500 },
    });
    const edge = new EdgeProcess(path);
    await operator.waitStatus((s) => (s.queue?.frames ?? 0) >= 15, 'a backlog of fifteen frames', 30_000);
    const before = collector.frames.length;
    await operator.send('backlog-cam', { command: 'ask', prompt: 'Now?', id: 'urgent-1' });
    await waitFor(() => collector.frames.some((f) => f.requestId === 'urgent-1'), { what: 'the ask frame', timeoutMs: 20_000 });
    const position = collector.frames.findIndex((f) => f.requestId === 'urgent-1');
    const backlog = operator.latest()?.queue?.frames ?? 0;
    assert.ok(position - before <= 3, `${position - before} frames went out between the ask and its frame (backlog ${backlog})`);
    assert.ok(backlog >= 10, `the backlog was still there (${backlog})`);
    await edge.stop();
    await Promise.all([collector.close(), operator.close()]);
  });

  it('sends one preview JPEG under the size bound only when asked', async () => {
    const operator = await Operator.connect(broker.url, 'preview-cam');
    const { path } = edgeCase(root, {
      device: { id: 'preview-cam' },
      camera: { type: 'directory', path: images, loop: true },
      capture: { intervalMs: 200 },
      status: { intervalSeconds: 1 },
      mqtt: { url: broker.url },
    });
    const edge = new EdgeProcess(path);
    await operator.waitStatus((s) => s.captured >= 1, 'an image captured', 30_000);
    // The status is republished on every command: one without a preview proves time passed with none sent.
    await operator.send('preview-cam', { command: 'set-interval', intervalMs: 250 });
    await operator.waitStatus((s) => s.intervalMs === 250, 'the interval applied');
    assert.equal(operator.previews.length, 0, 'no preview unless asked');

    await operator.send('preview-cam', { command: 'preview', id: 'p-1' });
    const status = await operator.waitStatus((s) => s.lastPreviewAt !== undefined, 'the preview reported');
    assert.equal(status.lastCommand?.ok, true);
    await waitFor(() => operator.previews.length === 1, { what: 'the preview' });
    const jpeg = operator.previews[0]!;
    assert.ok(jpeg.length <= PREVIEW_MAX_BYTES, `${jpeg.length} bytes`);
    const meta = await sharp(jpeg).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.ok(Math.max(meta.width!, meta.height!) <= PREVIEW_MAX_SIDE, `${meta.width}x${meta.height}`);
    await edge.stop();
    assert.equal(operator.previews.length, 1, 'exactly one');
    await operator.close();
  });

  it('prompt, interval and paused survive a restart; an edited config value wins over an older command', async () => {
    const operator = await Operator.connect(broker.url, 'state-cam');
    const edgeConfig = { device: { id: 'state-cam' }, camera: { type: 'directory', path: images, loop: true }, capture: { intervalMs: 1000 }, mqtt: { url: broker.url } };
    const { path } = edgeCase(root, edgeConfig);
    const first = new EdgeProcess(path);
    await operator.waitStatus(() => true, 'the edge online', 30_000);
    await operator.send('state-cam', { command: 'set-prompt', prompt: 'Keep me?' });
    await operator.send('state-cam', { command: 'set-interval', intervalMs: 5000 });
    await operator.send('state-cam', { command: 'pause' });
    await operator.waitStatus((s) => s.paused && s.intervalMs === 5000 && s.prompt === 'Keep me?', 'all three applied');
    await first.stop();

    operator.statuses.length = 0;
    const second = new EdgeProcess(path);
    const back = await operator.waitStatus(() => true, 'the edge online again', 30_000);
    assert.deepEqual([back.prompt, back.intervalMs, back.paused], ['Keep me?', 5000, true]);
    await second.stop();

    // The operator edits the file's interval: that is newer than the command and wins; the others stay.
    const config = JSON.parse(readFileSync(path, 'utf8'));
    config.capture.intervalMs = 2000;
    writeFileSync(path, JSON.stringify(config));
    operator.statuses.length = 0;
    const third = new EdgeProcess(path);
    const edited = await operator.waitStatus(() => true, 'the edge online a third time', 30_000);
    assert.deepEqual([edited.prompt, edited.intervalMs, edited.paused], ['Keep me?', 2000, true]);
    await third.stop();
    await operator.close();
  });

  it('republishes the status every status.intervalSeconds with current counters, and the queue gauges drop when the outbox drains', async () => {
    const operator = await Operator.connect(broker.url, 'fresh-cam');
    const port = await freePort();
    const { path } = edgeCase(root, {
      device: { id: 'fresh-cam' },
      camera: { type: 'directory', path: images },
      capture: { intervalMs: 100 },
      status: { intervalSeconds: 1 },
      metrics: { port },
      mqtt: { url: broker.url },
    });
    const edge = new EdgeProcess(path);
    // No command is sent: only the periodic refresh can report both captures.
    const fresh = await operator.waitStatus((s) => s.captured === 2, 'a refreshed status with both captures', 30_000);
    assert.equal(fresh.lastCommand, undefined);
    await waitFor(() => operator.online().length >= 3, { what: 'three periodic documents', timeoutMs: 10_000 });
    // Every frame is acknowledged: the gauges read the outbox now, not at the last enqueue.
    await waitForMetric(port, 'splitoculo_frames_published_total', (v) => v === 2);
    await waitForMetric(port, 'splitoculo_queue_frames', (v) => v === 0);
    await waitForMetric(port, 'splitoculo_queue_bytes', (v) => v === 0);
    await edge.stop();
    await operator.close();
  });
});
