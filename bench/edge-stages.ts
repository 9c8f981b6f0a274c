// Edge stage costs with a given model (default: the full preset in .cache/models/full):
// decode+preprocess, encode, quantise+pack, outbox commit; and the daemon's
// capture throughput as a ratio of bare session.run throughput in the same run.
//   node bench/edge-stages.ts [--model DIR] [--seconds N] [--threads N]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import pino from 'pino';
import { EdgeEncoder } from '../daemon/pipeline/edge-encoder.ts';
import { preprocessImage } from '../daemon/pipeline/preprocess.ts';
import { SqliteOutbox } from '../daemon/outbox/sqlite-outbox.ts';
import { EdgeDaemon } from '../daemon/edge-daemon.ts';
import { validateConfig } from '../daemon/config/load.ts';
import { loadModel } from '../protocol/manifest/load.ts';
import { openSession } from '../protocol/manifest/onnx-session.ts';
import { encodeFrame } from '../protocol/wire/frame.ts';
import { quantise } from '../protocol/wire/quantise.ts';

const { values } = parseArgs({ options: { model: { type: 'string', default: '.cache/models/full' }, seconds: { type: 'string', default: '10' }, threads: { type: 'string', default: '1' } } });
const seconds = Number(values.seconds);
const threads = Number(values.threads);
const framesDir = new URL('../test/fixtures/frames/', import.meta.url).pathname;
const samples = readdirSync(framesDir).filter((f) => /\.(png|jpe?g)$/.test(f) && f !== 'truncated.jpg').sort();
const model = await loadModel(values.model!, ['edge']);
const encoder = await EdgeEncoder.open(model, { intraOpThreads: threads });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// Per-stage costs on each sample.
const dir = mkdtempSync(join(tmpdir(), 'splitoculo-bench-'));
const outbox = new SqliteOutbox({ path: join(dir, 'outbox.db'), limits: { maxRows: 1e6, maxBytes: 1e9, ttlMs: 0, policy: 'drop-oldest', maxAnswers: 10 }, synchronous: 'normal' });
console.log(`model ${model.manifest.name} (${model.manifest.modelId}), onnxruntime threads ${threads}`);
console.log('sample                 preprocess ms  encode ms  quantise+pack ms  commit ms');
for (const name of samples) {
  const bytes = readFileSync(join(framesDir, name));
  const t: Record<string, number[]> = { pre: [], enc: [], q: [], c: [] };
  for (let i = 0; i < 7; i++) {
    let a = performance.now();
    const { tensor } = await preprocessImage(bytes, model.manifest.preprocess, name);
    let b = performance.now();
    t.pre!.push(b - a);
    a = performance.now();
    const tokens = await encoder.encode(tensor);
    b = performance.now();
    t.enc!.push(b - a);
    a = performance.now();
    const id = outbox.nextIdentity();
    const frame = encodeFrame({ codec: 'neural-u8', modelId: model.manifest.modelId, deviceId: 'bench', ...id, captureTimeMs: Date.now(), clockUnreliable: false, prompt: null, tokens: quantise(tokens, 49, 64, 'per-tensor') });
    b = performance.now();
    t.q!.push(b - a);
    a = performance.now();
    outbox.enqueue({ ...id, capturedAt: Date.now(), bytes: frame });
    b = performance.now();
    t.c!.push(b - a);
  }
  console.log(`${name.padEnd(22)} ${median(t.pre!).toFixed(1).padStart(13)} ${median(t.enc!).toFixed(1).padStart(10)} ${median(t.q!).toFixed(2).padStart(17)} ${median(t.c!).toFixed(2).padStart(10)}`);
}
outbox.close();

// The reference: bare session.run in a loop on a fixed input, no worker, no I/O.
await encoder.close();
const bare = await openSession(model, 'edge', { intraOpThreads: threads });
const input = new ort.Tensor('float32', new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i)), [1, 3, 224, 224]);
let n = 0;
let start = performance.now();
while (performance.now() - start < seconds * 1000) {
  await bare.session.run({ [bare.inputName]: input });
  n++;
}
const bareFps = n / ((performance.now() - start) / 1000);
await bare.session.release();

// The daemon, capturing as fast as it can (no broker: frames queue), from the
// sample folder and from a folder of 640x480 camera-like JPEGs (ffmpeg testsrc).
const cameraDir = join(dir, 'camera');
mkdirSync(cameraDir);
execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=640x480:rate=15', '-frames:v', '30', '-q:v', '5', join(cameraDir, 'f%03d.jpg')]);

async function daemonFps(folder: string, db: string): Promise<number> {
  const config = validateConfig({
    device: { id: 'bench' },
    model: { path: values.model, threads },
    camera: { type: 'directory', path: folder, loop: true },
    capture: { intervalMs: 0 },
    outbox: { path: join(dir, db), synchronous: 'normal' },
    mqtt: { url: 'mqtt://127.0.0.1:1', backoffInitialMs: 60_000, backoffMaxMs: 60_000 },
    log: { level: 'error' },
  });
  const daemon = new EdgeDaemon(config, pino({ level: 'error' }));
  await daemon.start();
  await new Promise((r) => setTimeout(r, 2000)); // warm-up
  const q0 = daemon.outbox.stats().lastSequence;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const fps = (daemon.outbox.stats().lastSequence - q0) / ((performance.now() - t0) / 1000);
  await daemon.stop();
  return fps;
}
const samplesFps = await daemonFps(framesDir, 'samples.db');
const cameraFps = await daemonFps(cameraDir, 'camera.db');
rmSync(dir, { recursive: true, force: true });
console.log(`\nbare session.run: ${bareFps.toFixed(2)} frames/s`);
console.log(`daemon, sample folder (large PNGs, one corrupt file): ${samplesFps.toFixed(2)} frames/s, ratio ${(samplesFps / bareFps).toFixed(3)}`);
console.log(`daemon, 640x480 camera JPEGs: ${cameraFps.toFixed(2)} frames/s, ratio ${(cameraFps / bareFps).toFixed(3)}`);
