// The real edge daemon and a real mosquitto: frames the broker acknowledged
// (they left the queue), then the edge SIGKILLed before their answers came;
// restarted, it accepts and stores every answer the cloud publishes. Before,
// the ids awaiting answers were a file written at stop, which a crash never
// reaches: every such answer was refused as 'unexpected' (the chaos soak lost
// 132 of 304 frames of one device). Forged answers are still refused.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
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

const root = mkdtempSync(join(tmpdir(), 'splitoculo-crash-answers-'));
after(() => rmSync(root, { recursive: true, force: true }));
afterEach(stopAllEdges);

const images = join(root, 'images');
mkdirSync(images);
for (const f of ['chelsea.png', 'coffee.png', 'coins.png']) copyFileSync(join(FRAMES_DIR, f), join(images, f));

const DEVICE = 'crash-cam';

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

/** Rows still holding a frame's bytes (queued): read the same way whatever the schema, so this test tells old code from new. */
function framesWithPayload(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM frames WHERE length(bytes) > 0').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('answers after an edge crash', () => {
  let broker: Mosquitto;
  before(async () => {
    broker = await Mosquitto.start();
  });
  after(async () => broker.dispose());

  it('frames acknowledged by the broker, edge SIGKILLed, restarted: every answer is stored, none unexpected; a forged one still refused', async () => {
    const metricsPort = await freePort();
    const collector = await FrameCollector.connect(broker.url, 'crash-collector', `splitoculo/v1/${DEVICE}/frame`);
    const { config, path } = edgeCase(root, {
      device: { id: DEVICE },
      camera: { type: 'directory', path: images },
      capture: { intervalMs: 50, maxFrames: 3 },
      mqtt: { url: broker.url },
      metrics: { port: metricsPort },
    });
    const outboxPath = (config.outbox as { path: string }).path;
    const first = new EdgeProcess(path);
    await first.waitFor((line) => line.msg === 'edge daemon running', 60_000, 'the daemon running');
    await collector.waitForCount(3, 60_000);
    await waitForMetric(metricsPort, 'splitoculo_frames_published_total', (n) => n === 3);
    // The broker's acknowledgements committed: no frame is queued any more (they would be sent again).
    await waitFor(() => framesWithPayload(outboxPath) === 0, { what: 'the acknowledgements committed', timeoutMs: 10_000 });
    first.child.kill('SIGKILL');
    assert.equal((await first.exited).signal, 'SIGKILL');

    const second = new EdgeProcess(path, ['--set', 'capture.paused=true']);
    await waitForMetric(metricsPort, 'splitoculo_answers_total', (n) => n === 0, { labels: { outcome: 'stored' } });
    const cloud = await mqtt.connectAsync(broker.url, { clientId: 'crash-cloud' });
    for (const frame of collector.frames.slice(0, 3)) await cloud.publishAsync(`splitoculo/v1/${DEVICE}/answer`, answerFor(frame, `after the crash ${frame.sequence}`), { qos: 1 });
    await waitForMetric(metricsPort, 'splitoculo_answers_total', (n) => n === 3, { labels: { outcome: 'stored' } });
    const forged = { ...collector.frames[0]!, frameId: new FrameIdGenerator().next() };
    await cloud.publishAsync(`splitoculo/v1/${DEVICE}/answer`, answerFor(forged, 'forged'), { qos: 1 });
    await waitForMetric(metricsPort, 'splitoculo_answers_total', (n) => n === 1, { labels: { outcome: 'unexpected' } });
    assert.deepEqual(
      storedAnswerList(outboxPath)
        .map((a) => a.text)
        .sort(),
      collector.frames
        .slice(0, 3)
        .map((f) => `after the crash ${f.sequence}`)
        .sort(),
    );
    assert.equal(await scrapeMetric(metricsPort, 'splitoculo_answers_total', { outcome: 'stored' }), 3);
    assert.equal(second.child.exitCode, null, 'still serving');
    await second.stop();
    await cloud.endAsync();
    await collector.close();
  });
});
