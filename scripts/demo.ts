// `make demo`: the whole system on one machine. The cloud worker starts with
// its embedded MQTT broker, the tiny SplitOculo models and the tiny Qwen
// stand-in; the edge daemon replays the sample frames to it; every answer is
// printed as it arrives, then a summary, and both processes stop.
//
// SPLITOCULO_MODEL=<folder> and SPLITOCULO_QWEN=<folder> point both sides at
// real models instead (models/README.md, cloud/README.md).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { parseAnswer, type AnswerEnvelope } from '../protocol/answer.ts';
import { loadModel } from '../protocol/manifest/load.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const framesDir = join(root, 'test', 'fixtures', 'frames');
const modelDir = process.env.SPLITOCULO_MODEL ?? join(root, 'models', 'tiny');
const qwenDir = process.env.SPLITOCULO_QWEN ?? join(root, 'models', 'tiny-qwen');
const device = 'demo-cam';
const work = mkdtempSync(join(tmpdir(), 'splitoculo-demo-'));

type LogLine = Record<string, unknown> & { msg: string };

function start(name: string, args: string[], onLine: (line: LogLine) => void): ChildProcess {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: root });
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split('\n');
    partial = parts.pop()!;
    for (const part of parts) {
      try {
        onLine(JSON.parse(part) as LogLine);
      } catch {
        // not a log line
      }
    }
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.on('exit', (code) => {
    if (code && !stopping) {
      console.error(`${name} exited with ${code}: ${stderr.trim()}`);
      process.exit(1);
    }
  });
  return child;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function waitFor<T>(what: string, timeoutMs: number, arm: (done: (value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo: timed out after ${timeoutMs / 1000} s waiting for ${what}`)), timeoutMs);
    arm((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(p * values.length))] ?? NaN;
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

let stopping = false;
const model = await loadModel(modelDir, ['edge', 'cloud']);
const untrained = model.manifest.source?.kind === 'random';
console.log(`SplitOculo demo: model "${model.manifest.name}" (${model.manifest.modelId}), split layer ${model.manifest.splitLayer}, Qwen folder ${qwenDir}`);
if (untrained) {
  console.log('The tiny models are UNTRAINED stand-ins with random weights: bytes and timings are real, the answers are noise.');
  console.log('For real answers: SPLITOCULO_MODEL=<folder from models/export.py> SPLITOCULO_QWEN=<Qwen2.5-VL folder prepared as in cloud/README.md> make demo\n');
}

const port = await freePort();
let workerReady: (v: true) => void = () => undefined;
const worker = start('cloud worker', [join(root, 'cloud', 'bin', 'splitoculo-cloud.ts'), 'run', '--embedded-broker', String(port),
  '--set', `models.paths=${JSON.stringify([modelDir])}`, '--set', 'answerer.type=local', '--set', `answerer.qwen=${qwenDir}`,
  '--set', 'answerer.maxNewTokens=12', '--set', `dedup.path=${join(work, 'answered.db')}`, '--set', 'worker.id=demo-worker'],
(line) => {
  if (line.msg === 'cloud worker running') workerReady(true);
});
await waitFor<true>('the cloud worker to start', 120_000, (done) => (workerReady = done));

const answers = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'demo-observer' });
await answers.subscribeAsync(`splitoculo/v1/${device}/answer`, { qos: 1 });

const samples = readdirSync(framesDir).filter((f) => /\.(png|jpe?g)$/.test(f));
const nameWidth = Math.max(...samples.map((f) => f.length));
const queued = new Map<string, { image: string; bytes: number; encodeMs: number; capturedAt: number }>();
let skipped = 0;
let captured: number | null = null;
const edgeConfig = join(work, 'edge.json');
writeFileSync(edgeConfig, JSON.stringify({
  device: { id: device }, model: { path: modelDir },
  camera: { type: 'directory', path: framesDir }, capture: { intervalMs: 400, prompt: 'What is in this picture?' },
  outbox: { path: join(work, 'outbox.db') }, mqtt: { url: `mqtt://127.0.0.1:${port}` }, log: { level: 'debug' },
}));
const edge = start('edge daemon', [join(root, 'daemon', 'bin', 'splitoculo-edge.ts'), 'run', '-c', edgeConfig], (line) => {
  if (line.msg === 'frame queued') {
    queued.set(line.frameId as string, { image: line.image as string, bytes: line.bytes as number, encodeMs: (line.preprocessMs as number) + (line.encodeMs as number), capturedAt: line.capturedAt as number });
  } else if (line.msg === 'corrupt image skipped') {
    skipped++;
    console.log(`${device}  ${String(line.image).padEnd(nameWidth)}  skipped at the edge: ${line.err}`);
  } else if (line.msg === 'capture finished; the queue keeps draining') {
    captured = line.captured as number;
  }
});

interface Row { image: string; bytes: number; fileBytes: number; encodeMs: number; endToEndMs: number; answer: AnswerEnvelope }
const rows: Row[] = [];
const header = `${'device'.padEnd(8)}  ${'frame'.padEnd(nameWidth)}  ${'wire B'.padStart(6)}  ${'encode ms'.padStart(9)}  ${'end-to-end ms'.padStart(13)}  answer`;
console.log(header);
console.log('-'.repeat(header.length + 20));
await waitFor<true>('answers to every sample frame', 180_000, (done) => {
  const check = () => {
    if (captured !== null && rows.length + skipped >= captured) done(true);
  };
  answers.on('message', (_topic, payload) => {
    const received = Date.now();
    const answer = parseAnswer(payload);
    const frame = answer.frameId ? queued.get(answer.frameId) : undefined;
    if (!frame || rows.some((r) => r.answer.frameId === answer.frameId)) return;
    const row = { ...frame, fileBytes: statSync(join(framesDir, frame.image)).size, endToEndMs: received - frame.capturedAt, answer };
    rows.push(row);
    const said = answer.text !== undefined ? JSON.stringify(answer.text) : `error ${answer.error!.code}: ${answer.error!.message}`;
    console.log(`${device}  ${frame.image.padEnd(nameWidth)}  ${String(frame.bytes).padStart(6)}  ${frame.encodeMs.toFixed(1).padStart(9)}  ${String(Math.round(row.endToEndMs)).padStart(13)}  ${said}`);
    check();
  });
  const poll = setInterval(() => {
    check();
    if (rows.length + skipped >= (captured ?? Infinity)) clearInterval(poll);
  }, 100);
});

stopping = true;
edge.kill('SIGTERM');
worker.kill('SIGTERM');
await answers.endAsync(true);
await Promise.all([edge, worker].map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)))));
rmSync(work, { recursive: true, force: true });

const answered = rows.filter((r) => r.answer.text !== undefined);
const stage = (key: keyof AnswerEnvelope['timings']) => mean(rows.map((r) => r.answer.timings[key] ?? 0)).toFixed(1);
const wire = rows.reduce((a, r) => a + r.bytes, 0);
const files = rows.reduce((a, r) => a + r.fileBytes, 0);
console.log(`
Summary (${samples.length} sample files)
  frames answered             ${answered.length} of ${rows.length} sent (${rows.length - answered.length} error answers), ${skipped} skipped at the edge (truncated.jpg is broken on purpose)
  bytes on the wire           ${wire} in all, ${Math.round(wire / rows.length)} per frame; the image files were ${files} (${(files / wire).toFixed(1)}x more)
  edge encode ms (mean)       ${mean(rows.map((r) => r.encodeMs)).toFixed(1)}
  end-to-end ms               median ${Math.round(percentile(rows.map((r) => r.endToEndMs), 0.5))}, p95 ${Math.round(percentile(rows.map((r) => r.endToEndMs), 0.95))}
  worker stages ms (mean)     queue ${stage('queueMs')}, cloud.onnx ${stage('cloudMs')}, vision tail ${stage('tailMs')}, language model ${stage('languageModelMs')}`);
if (untrained) console.log('\nThe answers above are noise from random weights: the pipeline is real, the models are not trained.');
process.exit(answered.length === rows.length && rows.length > 0 ? 0 : 1);
