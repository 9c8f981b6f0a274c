// Issue 15, finding 6 (the edge half): the edge connected with MQTT 3.1.1 and
// no size bound, and a 250 MB message on its answer topic took it from 259 to
// 724 MB before being refused. Now it speaks MQTT 5 (falling back to 3.1.1),
// announces a Maximum Packet Size (a real mosquitto then drops larger
// messages for it), and closes the connection on the header of any oversize
// packet before reading the body (a broker that ignores the announcement).
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
function publishHeader(topic: string, length: number): Buffer {
  const lengthBytes: number[] = [];
  let rest = length;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    lengthBytes.push(byte);
  } while (rest > 0);
  const name = Buffer.from(topic);
  return Buffer.concat([Buffer.from([0x32, ...lengthBytes]), Buffer.from([name.length >> 8, name.length & 0xff]), name, Buffer.from([0, 1, 0])]);
}

/**
 * A broker that ignores the client's Maximum Packet Size: on the first
 * connection it accepts, once subscribed, it streams a 250 MB PUBLISH to the answer
 * topic (1 MB writes, backpressure respected) until the client hangs up; later
 * connections are served normally.
 */
class OversizeBroker {
  readonly #server: Server;
  connections = 0;
  hugeBytesWritten = 0;
  hugeClosed = false;
  publishesAfter = 0;
  protocols: number[] = [];
  port = 0;
  readonly topic: string;
  /** A 3.1.1-only broker: MQTT 5 connects refused with "unacceptable protocol version". */
  readonly only311: boolean;
  #flooded = false;

  constructor(topic: string, only311 = false) {
    this.topic = topic;
    this.only311 = only311;
    this.#server = createServer((socket) => this.#serve(socket));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as { port: number }).port;
    return `mqtt://127.0.0.1:${this.port}`;
  }

  #serve(socket: Socket): void {
    this.connections += 1;
    let flooding = false;
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
        if (!this.#flooded) {
          this.#flooded = flooding = true;
          void this.#flood(socket);
        }
      } else if (packet.cmd === 'publish') {
        if (this.#flooded && !flooding) this.publishesAfter += 1;
        if (packet.qos === 1) send({ cmd: 'puback', messageId: packet.messageId });
      } else if (packet.cmd === 'pingreq') send({ cmd: 'pingresp' });
    });
    socket.on('data', (chunk) => parser.parse(chunk));
  }

  async #flood(socket: Socket): Promise<void> {
    socket.on('close', () => (this.hugeClosed = true));
    socket.write(publishHeader(this.topic, HUGE));
    const chunk = Buffer.alloc(1024 * 1024, 0x41);
    while (this.hugeBytesWritten < HUGE && !socket.destroyed && !this.hugeClosed) {
      this.hugeBytesWritten += chunk.length;
      if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve).once('close', resolve));
    }
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

  for (const only311 of [false, true]) {
    it(`a 250 MB PUBLISH from a ${only311 ? '3.1.1-only broker (the edge falls back)' : 'broker that ignores the bound'}: refused at its header, RSS bounded, the edge reconnects and keeps working`, async () => {
      const device = only311 ? 'size-cam-311' : 'size-cam';
      const fake = new OversizeBroker(`splitoculo/v1/${device}/answer`, only311);
      const url = await fake.listen();
      const metricsPort = await freePort();
      const { path } = edgeCase(root, {
        device: { id: device },
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
        await waitFor(() => fake.hugeClosed, { what: 'the edge to hang up on the oversize packet', timeoutMs: 60_000 });
        await waitForMetric(metricsPort, 'splitoculo_oversize_packets_total', (n) => n === 1);
        // Keeps working: a new connection, its status published and acknowledged.
        await waitFor(() => fake.connections >= 2 && fake.publishesAfter >= 1, { what: 'a reconnect with a publish', timeoutMs: 20_000 });
      } finally {
        clearInterval(sampler);
      }
      const grownMb = (peak - before) / 2 ** 20;
      console.log(
        `edge RSS ${(before / 2 ** 20).toFixed(0)} MB before, peak ${(peak / 2 ** 20).toFixed(0)} MB (+${grownMb.toFixed(1)} MB); ${fake.hugeBytesWritten / 2 ** 20} MB written of 250 MB before the edge hung up`,
      );
      assert.ok(grownMb < 50, `RSS grew by ${grownMb.toFixed(1)} MB`);
      assert.ok(fake.hugeBytesWritten < 64 * 1024 * 1024, `${fake.hugeBytesWritten} bytes read before hanging up`);
      assert.equal(fake.protocols[0], 5, 'MQTT 5 first');
      if (only311) assert.equal(fake.protocols[1], 4, 'then 3.1.1 after the refusal');
      assert.equal(edge.child.exitCode, null);
      await edge.stop();
      await fake.close();
    });
  }

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
