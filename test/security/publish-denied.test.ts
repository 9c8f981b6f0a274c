// Under MQTT 5 a broker that refuses a publish says so in the PUBACK (reason
// 0x87 when its ACL denies the topic). The edge used to ignore the reason:
// the frame stayed in flight until the PUBACK timeout and was sent again,
// forever, and nothing told the operator why no frame left. Now a refused
// frame stays queued (nothing accepted is lost), frames are held back for
// mqtt.backoffMaxMs and offered again, and the operator sees the reason in a
// metric, in the status document and in one log line. A real mosquitto with
// an ACL that denies the device's frame topic; the ACL fixed, frames flow.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import mqtt from 'mqtt';
import type { OnlineStatus } from '../../protocol/status.ts';
import { edgeCase } from '../helpers/edge-case.ts';
import { EdgeProcess, stopAllEdges } from '../helpers/edge-process.ts';
import { FrameCollector } from '../helpers/frame-collector.ts';
import { scrapeMetric, waitForMetric } from '../helpers/metrics.ts';
import { freePort, Mosquitto } from '../helpers/mosquitto.ts';
import { FRAMES_DIR } from '../helpers/paths.ts';
import { waitFor } from '../helpers/wait.ts';

const root = mkdtempSync(join(tmpdir(), 'splitoculo-denied-'));
after(() => rmSync(root, { recursive: true, force: true }));
afterEach(stopAllEdges);

const DEVICE = 'deny-cam';
const HOLD_MS = 1500;

/** Anonymous clients (mosquitto: the topic lines before any user line): the device's status, answers and commands; its frames only when `frames`. */
function writeAcl(path: string, frames: boolean): void {
  const lines = [
    `topic readwrite splitoculo/v1/${DEVICE}/status`,
    `topic read splitoculo/v1/${DEVICE}/answer`,
    `topic read splitoculo/v1/${DEVICE}/command`,
    ...(frames ? [`topic readwrite splitoculo/v1/${DEVICE}/frame`] : []),
  ];
  writeFileSync(path, `${lines.join('\n')}\n`);
  chmodSync(path, 0o644);
}

describe('frames the broker refuses (MQTT 5 PUBACK reason codes)', () => {
  it('a topic the ACL denies: counted by reason, in the status, held back and offered again, never timed out; published once the ACL allows it', async () => {
    let acl = '';
    const broker = await Mosquitto.start(undefined, (port, dir) => {
      acl = join(dir, 'edge.acl');
      writeAcl(acl, false);
      return [`listener ${port} 127.0.0.1`, 'allow_anonymous true', `acl_file ${acl}`];
    });
    const operator = await mqtt.connectAsync(broker.url, { clientId: 'deny-operator', protocolVersion: 5 });
    try {
      const statuses: OnlineStatus[] = [];
      operator.on('message', (_t, p) => {
        const doc = JSON.parse(p.toString());
        if (doc.state === 'online') statuses.push(doc);
      });
      await operator.subscribeAsync(`splitoculo/v1/${DEVICE}/status`, { qos: 1 });
      const metricsPort = await freePort();
      const { path } = edgeCase(root, {
        device: { id: DEVICE },
        camera: { type: 'file', path: join(FRAMES_DIR, 'coins.png') },
        capture: { intervalMs: 300 },
        mqtt: { url: broker.url, backoffInitialMs: 100, backoffMaxMs: HOLD_MS, pubackTimeoutMs: 2000 },
        metrics: { port: metricsPort },
      });
      const edge = new EdgeProcess(path);
      const denied = { labels: { reason: 'not authorized' }, timeoutMs: 60_000 };
      const first = await waitForMetric(metricsPort, 'splitoculo_publish_denied_total', (n) => n >= 1, denied);
      const status = await waitFor(() => statuses.find((s) => s.publishDenied), { what: 'a status naming the refusal', timeoutMs: 10_000 });
      assert.equal(status.publishDenied!.code, 0x87);
      assert.equal(status.publishDenied!.reason, 'not authorized');
      // Offered again after the hold (the ACL may have been fixed), refused again: counted, still no timeout.
      await waitForMetric(metricsPort, 'splitoculo_publish_denied_total', (n) => n > first, denied);
      assert.equal(await scrapeMetric(metricsPort, 'splitoculo_publish_timeouts_total'), 0, 'a refusal is an answer, not a timeout');
      assert.equal(await scrapeMetric(metricsPort, 'splitoculo_frames_published_total'), 0);
      assert.ok((await scrapeMetric(metricsPort, 'splitoculo_queue_frames')) > 0, 'the refused frames are still queued');
      assert.ok(statuses.every((s) => s.state === 'online'));

      writeAcl(acl, true);
      await broker.restart();
      // A subscriber in a cloud worker's place: a frame no one subscribes to is held too (unrouted-frames.test.ts).
      const taker = await FrameCollector.connect(broker.url, 'deny-taker', `splitoculo/v1/${DEVICE}/frame`, { protocolVersion: 5 });
      await waitForMetric(metricsPort, 'splitoculo_frames_published_total', (n) => n >= 3, { timeoutMs: 30_000 });
      await taker.close();
      assert.equal(await scrapeMetric(metricsPort, 'splitoculo_publish_timeouts_total'), 0);
      assert.equal(edge.child.exitCode, null);
      await edge.stop();
    } finally {
      await operator.endAsync(true);
      await broker.dispose();
    }
  });
});
