// Issue 15, finding 6 (the worker half), as an anonymous client of the
// worker's embedded broker does it: a PUBLISH announcing 250 MB on a frame
// topic is refused at its header (the connection closes after a few MB at
// most, where aedes used to read it all), and 400 retained 1 MB messages are
// delivered but not kept: retained messages are kept up to a JSON document's
// size, in two bounded pools (status documents; everything else). Asserted on what the broker kept (its /metrics counters, what a
// new subscriber gets retained) and on the worker process's resident memory;
// the worker keeps answering frames afterwards.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { FrameIdGenerator } from '../../protocol/wire/frame-id.ts';
import { encodeFrame, type WireFrame } from '../../protocol/wire/frame.ts';
import { quantise } from '../../protocol/wire/quantise.ts';
import { AnswerCollector } from '../helpers/answer-collector.ts';
import { CLOUD_BIN, EdgeProcess, stopAllEdges, writeConfig } from '../helpers/edge-process.ts';
import { seededTokens } from '../helpers/frames.ts';
import { scrapeMetric, waitForMetric } from '../helpers/metrics.ts';
import { TINY_MODEL_DIR, TINY_QWEN_DIR } from '../helpers/paths.ts';
import { waitUntil } from '../helpers/wait.ts';

const TINY_ID = (JSON.parse(readFileSync(join(TINY_MODEL_DIR, 'manifest.json'), 'utf8')) as { modelId: string }).modelId;
const ids = new FrameIdGenerator();
const work = mkdtempSync(join(tmpdir(), 'splitoculo-embedded-'));
const MiB = 1024 * 1024;
after(async () => {
  await stopAllEdges();
  rmSync(work, { recursive: true, force: true });
});

function tinyFrame(deviceId: string, sequence: number): WireFrame {
  return {
    codec: 'neural-u8',
    modelId: TINY_ID,
    deviceId,
    frameId: ids.next(),
    sequence,
    captureTimeMs: Date.now(),
    clockUnreliable: false,
    prompt: 'What is here?',
    tokens: quantise(seededTokens(49, 64, sequence + 1), 49, 64, 'per-tensor'),
  };
}

function rssBytes(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);

/** A raw MQTT 3.1.1 client: CONNECT, then a PUBLISH header announcing `announced` payload bytes, then zeros until the broker closes or `cap` bytes went out. */
async function oversizePublish(port: number, announced: number, cap: number): Promise<{ closed: boolean; written: number }> {
  const socket: Socket = connect(port, '127.0.0.1');
  let closed = false;
  socket.on('close', () => (closed = true)).on('error', () => undefined);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const id = Buffer.from('oversize-client');
  const connectBody = Buffer.concat([u16(4), Buffer.from('MQTT'), Buffer.from([4, 2, 0, 60]), u16(id.length), id]);
  const connack = new Promise<Buffer>((resolve) => socket.once('data', resolve));
  socket.write(Buffer.concat([Buffer.from([0x10, connectBody.length]), connectBody]));
  assert.equal((await connack)[0], 0x20, 'CONNACK');
  const topic = Buffer.from('splitoculo/v1/cam-big/frame');
  const header = Buffer.concat([Buffer.from([0x30, ...varint(2 + topic.length + announced)]), u16(topic.length), topic]);
  socket.write(header);
  let written = header.length;
  const chunk = Buffer.alloc(MiB);
  while (!closed && written < cap) {
    written += chunk.length;
    if (!socket.write(chunk)) await new Promise<void>((resolve) => socket.once('drain', resolve).once('close', resolve));
  }
  socket.destroy();
  return { closed, written };
}

describe('embedded broker under hostile clients (issue 15, finding 6)', () => {
  it('closes a 250 MB publish at its header, keeps retained messages small and within their pools, stays small and keeps answering', { timeout: 180_000 }, async () => {
    const config = {
      worker: { id: 'embedded-guard', batchWaitMs: 5 },
      models: { paths: [TINY_MODEL_DIR], threads: 1 },
      answerer: { type: 'local', qwen: TINY_QWEN_DIR, maxNewTokens: 2, threads: 1 },
      dedup: { path: join(work, 'answered.db') },
      metrics: { port: 0 },
    };
    const worker = new EdgeProcess(writeConfig(work, config, 'embedded.json'), ['--embedded-broker', '0'], process.env, [process.execPath, CLOUD_BIN]);
    const brokerPort = (await worker.waitFor((l) => l.msg === 'embedded MQTT 3.1.1 broker listening', 30_000)).port as number;
    const metricsPort = (await worker.waitFor((l) => l.msg === 'metrics listening', 30_000)).port as number;
    await worker.waitFor((l) => l.msg === 'cloud worker running', 30_000, 'worker start');
    const url = `mqtt://127.0.0.1:${brokerPort}`;
    const answers = await AnswerCollector.connect(url, 'splitoculo/v1/cam-warm/answer');
    const client = await mqtt.connectAsync(url, { clientId: 'junk-publisher' });
    try {
      const warm = tinyFrame('cam-warm', 1);
      await client.publishAsync('splitoculo/v1/cam-warm/frame', Buffer.from(encodeFrame(warm)), { qos: 1 });
      await answers.waitForFrames([warm.frameId]);
      const baseline = rssBytes(worker.child.pid!);

      const big = await oversizePublish(brokerPort, 250 * MiB, 48 * MiB);
      assert.ok(big.closed, `the broker kept reading: ${big.written} bytes sent and the connection still open`);
      assert.ok(big.written < 24 * MiB, `closed only after ${big.written} bytes`);
      await waitForMetric(metricsPort, 'splitoculo_cloud_embedded_oversize_disconnects_total', (v) => v === 1);

      const junk = Buffer.alloc(MiB, 0x61);
      for (let i = 0; i < 400; i++) {
        const topic = i % 20 === 0 ? 'splitoculo/v1/cam-junk/frame' : i % 2 ? `junk/${i}` : `splitoculo/v1/cam-junk-${i}/answer`;
        await client.publishAsync(topic, junk, { qos: 1, retain: true });
      }
      for (let i = 0; i < 5; i++) await client.publishAsync(`splitoculo/v1/cam-s${i}/status`, Buffer.from(`{"state":"online","n":${i}}`), { qos: 1, retain: true });
      await client.publishAsync('splitoculo/v1/cam-s9/status', Buffer.alloc(100 * 1024, 0x20), { qos: 1, retain: true }); // no status document is 100 KB
      await waitForMetric(metricsPort, 'splitoculo_cloud_embedded_retain_refused_total', (v) => v === 401);
      assert.equal(await scrapeMetric(metricsPort, 'splitoculo_cloud_embedded_retained_messages'), 5);
      assert.ok((await scrapeMetric(metricsPort, 'splitoculo_cloud_embedded_retained_bytes')) < 200);
      // Small retained messages elsewhere (discovery documents, junk): at most 2,000 topics kept.
      const small = Buffer.alloc(100, 0x62);
      for (let i = 0; i < 2_100; i++) client.publish(`homeassistant/junk/${i}/config`, small, { qos: 0, retain: true });
      await waitForMetric(metricsPort, 'splitoculo_cloud_embedded_retain_refused_total', (v) => v === 501);
      assert.equal(await scrapeMetric(metricsPort, 'splitoculo_cloud_embedded_retained_messages'), 2_005);

      // What a newcomer gets retained: the five status documents and nothing else.
      const newcomer = await mqtt.connectAsync(url, { clientId: 'newcomer' });
      const retainedTopics: string[] = [];
      newcomer.on('message', (topic, _payload, packet) => packet.retain && retainedTopics.push(topic));
      await newcomer.subscribeAsync('splitoculo/#', { qos: 0 });
      await waitUntil(() => new Set(retainedTopics).size >= 5, 20_000, 'five retained messages');
      await newcomer.endAsync(true);
      assert.deepEqual(
        [...new Set(retainedTopics)].sort(),
        [0, 1, 2, 3, 4].map((i) => `splitoculo/v1/cam-s${i}/status`),
      );

      const grown = rssBytes(worker.child.pid!) - baseline;
      console.log(`worker RSS: ${(baseline / MiB).toFixed(0)} MiB before, grew ${(grown / MiB).toFixed(0)} MiB after 48 MiB of an oversize publish and 400 MiB + 2,100 small retained messages`);
      assert.ok(grown < 200 * MiB, `worker grew by ${(grown / MiB).toFixed(0)} MiB`);

      const after = tinyFrame('cam-warm', 2);
      await client.publishAsync('splitoculo/v1/cam-warm/frame', Buffer.from(encodeFrame(after)), { qos: 1 });
      await answers.waitForFrames([after.frameId]);
      assert.equal(answers.answers.find((a) => a.frameId === after.frameId)!.error, undefined);
      assert.equal(worker.child.exitCode, null, 'still running');
    } finally {
      await client.endAsync(true);
      await answers.close();
      await worker.stop();
    }
  });
});
