// Issue 15, finding 6 (the edge half): the edge connected with MQTT 3.1.1 and
// no size bound, and a 250 MB message on its answer topic took it from 259 to
// 724 MB before being refused. Now it speaks MQTT 5 (falling back to 3.1.1),
// announces a Maximum Packet Size (a real mosquitto then drops larger
// messages for it), and skips the body of any oversize PUBLISH unread (a
// broker that ignores the announcement), acknowledging it. Hanging up instead
// (the earlier fix) made a persistent session's redelivery of the same QoS 1
// message a reconnect loop: the redelivery case below.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { EDGE_MAX_PACKET_BYTES } from '../../daemon/link/edge-connection.ts';
import { edgeCase } from '../helpers/edge-case.ts';
import { EdgeProcess, stopAllEdges } from '../helpers/edge-process.ts';
import { scrapeMetric, waitForMetric } from '../helpers/metrics.ts';
import { freePort, Mosquitto } from '../helpers/mosquitto.ts';
import { FRAMES_DIR } from '../helpers/paths.ts';
import { waitFor } from '../helpers/wait.ts';

const root = mkdtempSync(join(tmpdir(), 'splitoculo-packet-'));
after(() => rmSync(root, { recursive: true, force: true }));
afterEach(stopAllEdges);

const HUGE = 250 * 1024 * 1024;

function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) * 1024;
}

/** A PUBLISH fixed header announcing `length` bytes of body, then the topic and packet id; the body follows separately. */
function publishHeader(topic: string, length: number, dup = false): Buffer {
  const lengthBytes: number[] = [];
  let rest = length;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    lengthBytes.push(byte);
  } while (rest > 0);
  const name = Buffer.from(topic);
  return Buffer.concat([Buffer.from([dup ? 0x3a : 0x32, ...lengthBytes]), Buffer.from([name.length >> 8, name.length & 0xff]), name, Buffer.from([0, 1, 0])]);
}

/**
 * A broker that ignores the client's Maximum Packet Size: once subscribed, it
 * streams an oversize QoS 1 PUBLISH (packet id 1) to the answer topic (1 MB
 * writes, backpressure respected), exactly as long as its header announces.
 * `redeliver`: as a persistent session does, on every connection until it
 * is acknowledged (DUP set). Once it is, a normal command follows (id 2).
 */
class OversizeBroker {
  readonly #server: Server;
  connections = 0;
  hugeBytesWritten = 0;
  hugeDeliveries = 0;
  pubacks: number[] = [];
  protocols: number[] = [];
  port = 0;
  readonly device: string;
  readonly size: number;
  /** A 3.1.1-only broker: MQTT 5 connects refused with "unacceptable protocol version". */
  readonly only311: boolean;
  readonly redeliver: boolean;

  constructor(device: string, options: { only311?: boolean; size?: number; redeliver?: boolean } = {}) {
    this.device = device;
    this.only311 = options.only311 ?? false;
    this.size = options.size ?? HUGE;
    this.redeliver = options.redeliver ?? false;
    this.#server = createServer((socket) => this.#serve(socket));
  }

  get acked(): boolean {
    return this.pubacks.includes(1);
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as { port: number }).port;
    return `mqtt://127.0.0.1:${this.port}`;
  }

  #serve(socket: Socket): void {
    this.connections += 1;
    socket.on('error', () => undefined);
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    let version = 5;
    const send = (packet: object) => socket.write(mqttPacket.generate(packet as mqttPacket.Packet, { protocolVersion: version }));
    parser.on('packet', (packet: mqttPacket.Packet) => {
      if (packet.cmd === 'connect') {
        version = packet.protocolVersion ?? 4;
        this.protocols.push(version);
        if (this.only311 && version === 5) {
          version = 4;
          send({ cmd: 'connack', returnCode: 1, sessionPresent: false });
          socket.end();
          return;
        }
        send({ cmd: 'connack', returnCode: 0, reasonCode: 0, sessionPresent: false, ...(version === 5 && { properties: {} }) });
      } else if (packet.cmd === 'subscribe') {
        send({ cmd: 'suback', messageId: packet.messageId, granted: packet.subscriptions.map(() => 1) });
        if (!this.acked && (this.hugeDeliveries === 0 || this.redeliver)) void this.#flood(socket);
      } else if (packet.cmd === 'puback') {
        this.pubacks.push(packet.messageId!);
        if (packet.messageId === 1) {
          const command = JSON.stringify({ command: 'set-interval', intervalMs: 4321 });
          send({ cmd: 'publish', topic: `splitoculo/v1/${this.device}/command`, payload: command, qos: 1, messageId: 2, ...(version === 5 && { properties: {} }) });
        }
      } else if (packet.cmd === 'publish') {
        if (packet.qos === 1) send({ cmd: 'puback', messageId: packet.messageId });
      } else if (packet.cmd === 'pingreq') send({ cmd: 'pingresp' });
    });
    socket.on('data', (chunk) => parser.parse(chunk));
  }

  async #flood(socket: Socket): Promise<void> {
    const dup = this.hugeDeliveries > 0;
    this.hugeDeliveries += 1;
    const header = publishHeader(`splitoculo/v1/${this.device}/answer`, this.size, dup);
    socket.write(header);
    let left = this.size - (header.length - this.#variableStart(header));
    const chunk = Buffer.alloc(1024 * 1024, 0x41);
    while (left > 0 && !socket.destroyed) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      this.hugeBytesWritten += piece.length;
      if (!socket.write(piece)) await new Promise((resolve) => socket.once('drain', resolve).once('close', resolve));
    }
  }

  /** Where the variable header starts: after the type byte and the remaining-length bytes. */
  #variableStart(header: Buffer): number {
    let i = 1;
    while (header[i]! & 0x80) i += 1;
    return i + 1;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

describe('edge packet size', () => {
  let broker: Mosquitto;
  before(async () => {
    broker = await Mosquitto.start();
  });
  after(async () => broker.dispose());

  /** An edge at `fake`, its RSS sampled every 10 ms from 'running' until `work` settles; returns the growth in MB. */
  async function withEdge(fake: OversizeBroker, work: (metricsPort: number) => Promise<void>): Promise<number> {
    const url = await fake.listen();
    const metricsPort = await freePort();
    const { path } = edgeCase(root, {
      device: { id: fake.device },
      camera: { type: 'file', path: join(FRAMES_DIR, 'coins.png') },
      capture: { paused: true },
      mqtt: { url, backoffInitialMs: 100, backoffMaxMs: 500 },
      metrics: { port: metricsPort },
    });
    const edge = new EdgeProcess(path);
    await edge.waitFor((line) => line.msg === 'edge daemon running', 60_000, 'the daemon running');
    const before = rssBytes(edge.child.pid!);
    let peak = before;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, rssBytes(edge.child.pid!));
      } catch {
        // exited: the assertions below say so
      }
    }, 10);
    try {
      await work(metricsPort);
    } finally {
      clearInterval(sampler);
    }
    assert.equal(edge.child.exitCode, null);
    await edge.stop();
    await fake.close();
    const grownMb = (peak - before) / 2 ** 20;
    console.log(
      `edge RSS ${(before / 2 ** 20).toFixed(0)} MB before, peak ${(peak / 2 ** 20).toFixed(0)} MB (+${grownMb.toFixed(1)} MB); ${(fake.hugeBytesWritten / 2 ** 20).toFixed(1)} MB of oversize bodies read`,
    );
    return grownMb;
  }

  for (const only311 of [false, true]) {
    it(`a 250 MB PUBLISH from a ${only311 ? '3.1.1-only broker (the edge falls back)' : 'broker that ignores the bound'}: skipped unread and acknowledged, RSS bounded, the connection kept and working`, async () => {
      const fake = new OversizeBroker(only311 ? 'size-cam-311' : 'size-cam', { only311 });
      const grownMb = await withEdge(fake, async (metricsPort) => {
        await waitFor(() => fake.acked, { what: 'the PUBACK of the oversize message', timeoutMs: 60_000 });
        await waitForMetric(metricsPort, 'splitoculo_oversize_packets_total', (n) => n === 1);
        // Keeps working on the same connection: the next command applied and acknowledged.
        await waitForMetric(metricsPort, 'splitoculo_commands_total', (n) => n === 1, { labels: { outcome: 'applied' } });
        await waitFor(() => fake.pubacks.includes(2), { what: "the command's PUBACK" });
      });
      assert.ok(grownMb < 50, `RSS grew by ${grownMb.toFixed(1)} MB`);
      // The body after topic length, topic, packet id and the properties' length byte: all of it read past, not refused.
      assert.equal(fake.hugeBytesWritten, HUGE - (2 + `splitoculo/v1/${fake.device}/answer`.length + 3), 'the whole body was read past');
      assert.equal(fake.connections, only311 ? 2 : 1, 'no hang-up: only the fallback reconnects');
      assert.equal(fake.protocols[0], 5, 'MQTT 5 first');
      if (only311) assert.equal(fake.protocols[1], 4, 'then 3.1.1 after the refusal');
    });
  }

  it('a 3.1.1 broker that redelivers the oversize QoS 1 message on every reconnect: acknowledged once, no reconnect loop', async () => {
    const fake = new OversizeBroker('size-cam-redeliver', { only311: true, size: 4 * 1024 * 1024, redeliver: true });
    const grownMb = await withEdge(fake, async (metricsPort) => {
      await waitFor(() => fake.acked, { what: 'the PUBACK of the oversize message', timeoutMs: 30_000 });
      await waitForMetric(metricsPort, 'splitoculo_commands_total', (n) => n === 1, { labels: { outcome: 'applied' } });
      assert.equal(await scrapeMetric(metricsPort, 'splitoculo_oversize_packets_total'), 1);
    });
    assert.equal(fake.hugeDeliveries, 1, 'delivered once: acknowledged the first time');
    assert.equal(fake.connections, 2, 'the refused MQTT 5 attempt and one 3.1.1 session');
    assert.ok(grownMb < 50, `RSS grew by ${grownMb.toFixed(1)} MB`);
  });

  it('with mosquitto (MQTT 5) the broker drops messages over the announced size for the edge; the connection and the next command are unaffected', async () => {
    const device = 'size-cam-2';
    const metricsPort = await freePort();
    const { path } = edgeCase(root, {
      device: { id: device },
      camera: { type: 'file', path: join(FRAMES_DIR, 'coins.png') },
      capture: { paused: true },
      mqtt: { url: broker.url },
      metrics: { port: metricsPort },
    });
    const edge = new EdgeProcess(path);
    const operator = await mqtt.connectAsync(broker.url, { clientId: 'size-operator' });
    const statuses: Array<Record<string, unknown>> = [];
    operator.on('message', (_t, p) => statuses.push(JSON.parse(p.toString())));
    await operator.subscribeAsync(`splitoculo/v1/${device}/status`, { qos: 1 });
    await waitFor(() => statuses.some((s) => s.state === 'online'), { what: 'the edge online', timeoutMs: 60_000 });
    // 1 MB of "command" (3.1.1 before: read in full, then refused as too large), then a real one.
    await operator.publishAsync(`splitoculo/v1/${device}/command`, Buffer.alloc(1024 * 1024, 0x20), { qos: 1 });
    await operator.publishAsync(`splitoculo/v1/${device}/command`, JSON.stringify({ command: 'set-interval', intervalMs: 4321 }), { qos: 1 });
    await waitForMetric(metricsPort, 'splitoculo_commands_total', (n) => n === 1, { labels: { outcome: 'applied' } });
    assert.equal(await scrapeMetric(metricsPort, 'splitoculo_commands_total', { outcome: 'invalid' }), 0, 'the oversize one never reached the edge');
    assert.equal(await scrapeMetric(metricsPort, 'splitoculo_oversize_packets_total'), 0);
    assert.ok(EDGE_MAX_PACKET_BYTES < 1024 * 1024);
    assert.equal(edge.child.exitCode, null);
    await operator.endAsync();
    await edge.stop();
  });
});
