// The chaos soak's lost frame (README, "Reliability"): the shaped link the
// soak puts between each board and the broker (TcpRelay over
// tools/shaped-pipe.ts) let a small chunk overtake a large one read a fraction
// of a millisecond earlier (one timer per chunk; Node truncates timer delays to
// whole milliseconds). The broker then read a PUBLISH whose payload began
// with another packet's bytes, acknowledged it to the board, and the worker
// refused it as "not a SplitOculo frame" without a frame id to answer under;
// the rest of the stream was a malformed packet. Here a separate process
// writes what an edge writes (a frame-sized chunk, then a few bytes such as a
// PINGREQ or PUBACK, a fraction of a millisecond apart) through the real relay
// with the soak's shape, and the bytes must arrive exactly as written.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { after, it } from 'node:test';
import { freePort } from '../helpers/mosquitto.ts';
import { TcpRelay } from '../helpers/tcp-proxy.ts';
import { waitFor } from '../helpers/wait.ts';

const PAIRS = 100;
const FRAME_BYTES = 3225;

/** The byte stream the writer sends: per pair a frame-sized chunk of one value, then two bytes of 250. */
function expectedStream(): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < PAIRS; i++) parts.push(Buffer.alloc(FRAME_BYTES, i % 200), Buffer.from([250, 250]));
  return Buffer.concat(parts);
}

// A separate process, so its writes reach the relay as separate reads (as the edge daemon's do).
const WRITER = `
const socket = require('node:net').connect(Number(process.argv[1]), '127.0.0.1', async () => {
  socket.setNoDelay(true);
  for (let i = 0; i < ${PAIRS}; i++) {
    socket.write(Buffer.alloc(${FRAME_BYTES}, i % 200));
    const t = performance.now();
    while (performance.now() - t < 0.2 + (i % 9) / 10) {} // the next packet a fraction of a millisecond later
    socket.write(Buffer.from([250, 250]));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  // Stays connected (the relay cuts both sides when one closes) until the test has read everything.
  process.stdout.write('written\\n');
  setTimeout(() => socket.end(), 60_000);
});`;

let sink: Server | null = null;
let relay: TcpRelay | null = null;
let writer: ChildProcess | null = null;
after(async () => {
  writer?.kill('SIGKILL');
  await relay?.close();
  sink?.close();
});

it('the shaped relay delivers bytes in the order they were written (a small packet never overtakes a frame)', { timeout: 60_000 }, async () => {
  const received: Buffer[] = [];
  let bytes = 0;
  sink = createServer((socket) =>
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      bytes += chunk.length;
    }),
  );
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  relay = new TcpRelay(await freePort(), (sink.address() as { port: number }).port, { bytesPerSecond: 125_000, rttMs: 60 });
  await relay.open();

  const child = spawn(process.execPath, ['-e', WRITER, String(relay.port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  writer = child;
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await waitFor(() => stdout.includes('written') || child.exitCode !== null, { what: 'the writer to finish writing', timeoutMs: 30_000 });
  assert.ok(stdout.includes('written'), `writer failed: ${stderr}`);

  const expected = expectedStream();
  await waitFor(() => bytes >= expected.length, { what: `${expected.length} bytes through the relay`, timeoutMs: 30_000 });
  const stream = Buffer.concat(received);
  let firstDifference = -1;
  for (let i = 0; i < expected.length && firstDifference < 0; i++) if (stream[i] !== expected[i]) firstDifference = i;
  assert.equal(firstDifference, -1, `the relay reordered the stream: first different byte at offset ${firstDifference} (pair ${Math.floor(firstDifference / (FRAME_BYTES + 2))})`);
  assert.equal(stream.length, expected.length);
});
