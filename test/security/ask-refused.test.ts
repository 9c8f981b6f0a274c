// `splitoculo-cloud ask` against a broker that refuses its subscription (an
// ACL: SUBACK 0x80), from a scripted broker. Before commit a23cf48 the answer
// timer kept running after subscribing failed, so the command sat out its
// whole --timeout (120 s here) before exiting; and the refusal surfaced as an
// internal error (exit 70). Now: one line naming the broker and the refusal,
// exit 1, at once.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import mqttPacket from 'mqtt-packet';
import { CLOUD_BIN, cli, stderrLines } from '../helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'ask-refused-'));
const config = join(dir, 'cloud.json');
let server: Server;
let url = '';
let subscribes = 0;

before(async () => {
  server = createServer((socket) => {
    socket.on('error', () => undefined);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (packet: mqttPacket.Packet) => {
      if (packet.cmd === 'connect') socket.write(mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: false }));
      else if (packet.cmd === 'subscribe') {
        subscribes += 1;
        socket.write(mqttPacket.generate({ cmd: 'suback', messageId: packet.messageId, granted: packet.subscriptions.map(() => 0x80) }));
      } else if (packet.cmd === 'pingreq') socket.write(mqttPacket.generate({ cmd: 'pingresp' }));
    });
    socket.on('data', (chunk) => parser.parse(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
  writeFileSync(config, JSON.stringify({ models: { paths: ['models/tiny'] }, answerer: { type: 'local', qwen: 'models/tiny-qwen' }, dedup: { path: join(dir, 'd.db') }, mqtt: { url } }));
});

after(async () => {
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

it('a refused subscription: one line naming the broker, exit 1, without sitting out --timeout', { timeout: 60_000 }, async () => {
  const result = await cli(CLOUD_BIN, ['ask', 'cam1', 'Anything?', '--timeout', '120', '-c', config], { timeoutMs: 30_000 });
  assert.equal(subscribes, 1);
  assert.equal(result.code, 1, stderrLines(result).join('\n'));
  assert.deepEqual(stderrLines(result), [`splitoculo-cloud: error: ask cam1: broker ${url} refused the subscription to the device's answers and status (Subscribe error: Unspecified error)`]);
});
