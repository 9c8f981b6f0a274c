// Under MQTT 5 a PUBACK with reason 0x10 says the broker took the frame and no
// subscription matched it: no cloud worker's session exists (a broker
// restarted without persistence, the workers not yet started). mqtt.js reports
// it as a plain success, and the edge used to delete the frame: accepted, then
// lost. Now such a frame is held back and offered again like a refusal
// (daemon/link/publish-denials.ts), and reaches the first subscriber.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, it } from 'node:test';
import { edgeCase } from '../helpers/edge-case.ts';
import { FrameCollector } from '../helpers/frame-collector.ts';
import { EdgeProcess, stopAllEdges } from '../helpers/edge-process.ts';
import { scrapeMetric, waitForMetric } from '../helpers/metrics.ts';
import { freePort, Mosquitto } from '../helpers/mosquitto.ts';
import { FRAMES_DIR } from '../helpers/paths.ts';
import { waitFor } from '../helpers/wait.ts';

const root = mkdtempSync(join(tmpdir(), 'splitoculo-unrouted-'));
after(() => rmSync(root, { recursive: true, force: true }));
afterEach(stopAllEdges);

const DEVICE = 'unrouted-cam';
const FRAMES = 4;

it('frames nobody subscribes to stay queued and reach the first subscriber, every one', async () => {
  const broker = await Mosquitto.start();
  const metricsPort = await freePort();
  const { path } = edgeCase(root, {
    device: { id: DEVICE },
    camera: { type: 'file', path: join(FRAMES_DIR, 'coins.png') },
    capture: { intervalMs: 200, maxFrames: FRAMES },
    mqtt: { url: broker.url, backoffInitialMs: 100, backoffMaxMs: 1000, pubackTimeoutMs: 5000 },
    metrics: { port: metricsPort },
  });
  const edge = new EdgeProcess(path);
  let worker: FrameCollector | null = null;
  try {
    await waitForMetric(metricsPort, 'splitoculo_publish_denied_total', (n) => n >= 1, { labels: { reason: 'no matching subscribers' }, timeoutMs: 60_000 });
    assert.equal(await scrapeMetric(metricsPort, 'splitoculo_frames_published_total'), 0, 'nothing counted delivered');
    assert.ok((await scrapeMetric(metricsPort, 'splitoculo_queue_frames')) > 0, 'the frames are still queued');

    const collector = await FrameCollector.connect(broker.url, 'unrouted-worker', `splitoculo/v1/${DEVICE}/frame`, { protocolVersion: 5 });
    worker = collector;
    const ids = () => new Set(collector.frames.map((f) => f.frameId));
    await waitFor(() => ids().size >= FRAMES, { what: `all ${FRAMES} frames at the subscriber`, timeoutMs: 30_000 });
    await waitForMetric(metricsPort, 'splitoculo_queue_frames', (n) => n === 0, { timeoutMs: 10_000 });
    assert.equal(ids().size, FRAMES);
    assert.equal(edge.child.exitCode, null);
  } finally {
    await worker?.close();
    await edge.stop();
    await broker.dispose();
  }
});
