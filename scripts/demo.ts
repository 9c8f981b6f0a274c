// `make demo`: the whole system on one machine. The cloud worker starts with
// its embedded MQTT broker, the tiny SplitOculo models and the tiny Qwen
// stand-in; an edge daemon replays the sample frames to it as 3 KB neural
// frames, then a second one sends the same crops as JPEG (codec jpeg: the whole
// picture through Qwen's whole vision tower); every answer is printed as it
// arrives, then whether each frame's neural answer equals its whole-picture
// answer, a summary, and everything stops. The worker serves the operator
// console meanwhile (its URL is printed); once the first replay is answered
// the demo asks the camera a question through the console, as an operator
// pressing "Ask now" would, and reports the time to the answer.
// SPLITOCULO_DEMO_KEEP=1 keeps the console and the first device up until
// Ctrl-C at that point, to look around.
//
// SPLITOCULO_MODEL=<folder> and SPLITOCULO_QWEN=<folder> point both sides at
// real models instead (models/README.md, cloud/README.md).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { parseAnswer, type AnswerEnvelope } from '../protocol/answer.ts';
import { loadModel } from '../protocol/manifest/load.ts';
import { printable, printableJson } from '../runtime/printable.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const framesDir = join(root, 'test', 'fixtures', 'frames');
const modelDir = process.env.SPLITOCULO_MODEL ?? join(root, 'models', 'tiny');
const qwenDir = process.env.SPLITOCULO_QWEN ?? join(root, 'models', 'tiny-qwen');
const work = mkdtempSync(join(tmpdir(), 'splitoculo-demo-'));

type LogLine = Record<string, unknown> & { msg: string };
/** Children stopped on purpose: their exit is not a failure. */
const stopped = new WeakSet<ChildProcess>();
/** Every child: a demo that fails or is interrupted half-way must not leave a worker or daemon running. */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function start(name: string, args: string[], onLine: (line: LogLine) => void): ChildProcess {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: root });
  children.add(child);
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
    if (code && !stopped.has(child)) {
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

const model = await loadModel(modelDir, ['edge', 'cloud']);
const untrained = model.manifest.source?.kind === 'random';
const qwenNote = (JSON.parse(readFileSync(join(qwenDir, 'config.json'), 'utf8')) as { _splitoculo?: string })._splitoculo ?? '';
const qwenUntrained = qwenNote.includes('random weights');
console.log(`SplitOculo demo: model "${model.manifest.name}" (${model.manifest.modelId}), split layer ${model.manifest.splitLayer}, Qwen folder ${qwenDir}`);
if (untrained) console.log('The tiny SplitOculo models are UNTRAINED stand-ins with random weights: bytes and timings are real, the answers are noise.');
if (qwenUntrained) {
  console.log(`The tiny Qwen2.5-VL stand-in is UNTRAINED (random weights): its answers are noise, but the same noise for the same visual tokens.`);
  if (!untrained) {
    console.log(`The SplitOculo model "${model.manifest.name}" is trained (${String(model.manifest.source?.kind)}): distilled from the stand-in's vision tower (make models-tiny-trained).`);
    console.log(
      'A random language model turns even small changes of the visual tokens into other answers (a JPEG round trip of the picture alone does; models/fidelity.py measures it), so "same answer" below is a strict test.',
    );
  }
}
if (untrained || qwenUntrained) console.log('For real answers: SPLITOCULO_MODEL=<folder from models/export.py> SPLITOCULO_QWEN=<Qwen2.5-VL folder prepared as in cloud/README.md> make demo\n');

const port = await freePort();
const consolePort = await freePort();
const consoleUrl = `http://127.0.0.1:${consolePort}/`;
let workerReady: (v: true) => void = () => undefined;
const worker = start(
  'cloud worker',
  [
    join(root, 'cloud', 'bin', 'splitoculo-cloud.ts'),
    'run',
    '--embedded-broker',
    String(port),
    '--set',
    `models.paths=${JSON.stringify([modelDir])}`,
    '--set',
    'answerer.type=local',
    '--set',
    `answerer.qwen=${qwenDir}`,
    '--set',
    'answerer.maxNewTokens=12',
    '--set',
    `dedup.path=${join(work, 'answered.db')}`,
    '--set',
    'worker.id=demo-worker',
    '--set',
    `console.port=${consolePort}`,
    '--set',
    `console.historyPath=${join(work, 'console-history.db')}`,
  ],
  (line) => {
    if (line.msg === 'cloud worker running') workerReady(true);
  },
);
await waitFor<true>('the cloud worker to start', 120_000, (done) => (workerReady = done));
console.log(`Console: ${consoleUrl} (open it while the demo runs; SPLITOCULO_DEMO_KEEP=1 keeps it up)\n`);

const samples = readdirSync(framesDir).filter((f) => /\.(png|jpe?g)$/.test(f));
const nameWidth = Math.max(...samples.map((f) => f.length));
interface Row {
  image: string;
  bytes: number;
  fileBytes: number;
  encodeMs: number;
  endToEndMs: number;
  answer: AnswerEnvelope;
}
// Answer text is a model's output: escaped for the terminal (runtime/printable.ts).
const said = (answer: AnswerEnvelope): string => (answer.text !== undefined ? printableJson(JSON.stringify(answer.text)) : printable(`error ${answer.error!.code}: ${answer.error!.message}`));

/** One edge daemon replaying the sample frames with one codec; resolves with its answered rows. */
async function replay(device: string, codec: 'neural' | 'jpeg', whileUp?: (answers: MqttClient) => Promise<void>): Promise<{ rows: Row[]; skipped: number }> {
  const answers = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `demo-observer-${device}` });
  await answers.subscribeAsync(`splitoculo/v1/${device}/answer`, { qos: 1 });
  const queued = new Map<string, { image: string; bytes: number; encodeMs: number; capturedAt: number }>();
  let skipped = 0;
  let captured: number | null = null;
  const config = join(work, `${device}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      device: { id: device },
      model: { path: modelDir },
      encoding: { codec },
      camera: { type: 'directory', path: framesDir },
      capture: { intervalMs: 400, prompt: 'What is in this picture?' },
      outbox: { path: join(work, `${device}.db`) },
      mqtt: { url: `mqtt://127.0.0.1:${port}` },
      log: { level: 'debug' },
    }),
  );
  const edge = start(`edge daemon ${device}`, [join(root, 'daemon', 'bin', 'splitoculo-edge.ts'), 'run', '-c', config], (line) => {
    if (line.msg === 'frame queued') {
      queued.set(line.frameId as string, {
        image: line.image as string,
        bytes: line.bytes as number,
        encodeMs: (line.preprocessMs as number) + (line.encodeMs as number),
        capturedAt: line.capturedAt as number,
      });
    } else if (line.msg === 'corrupt image skipped') {
      skipped++;
      console.log(`${device}  ${String(line.image).padEnd(nameWidth)}  skipped at the edge: ${printable(String(line.err))}`);
    } else if (line.msg === 'capture finished; the queue keeps draining') {
      captured = line.captured as number;
    }
  });
  const rows: Row[] = [];
  await waitFor<true>(`answers to every sample frame (${codec})`, 180_000, (done) => {
    const check = () => {
      if (captured !== null && rows.length + skipped >= captured) done(true);
    };
    answers.on('message', (_topic, payload) => {
      const received = Date.now();
      const answer = parseAnswer(payload);
      const frame = answer.frameId ? queued.get(answer.frameId) : undefined;
      // An operator's ask (it carries a request id) is reported on its own line, not as a replayed frame.
      if (!frame || answer.requestId || rows.some((r) => r.answer.frameId === answer.frameId)) return;
      const row = { ...frame, fileBytes: statSync(join(framesDir, frame.image)).size, endToEndMs: received - frame.capturedAt, answer };
      rows.push(row);
      console.log(
        `${device}  ${frame.image.padEnd(nameWidth)}  ${String(frame.bytes).padStart(6)}  ${frame.encodeMs.toFixed(1).padStart(9)}  ${String(Math.round(row.endToEndMs)).padStart(13)}  ${said(answer)}`,
      );
      check();
    });
    const poll = setInterval(() => {
      check();
      if (rows.length + skipped >= (captured ?? Infinity)) clearInterval(poll);
    }, 100);
  });
  await whileUp?.(answers);
  stopped.add(edge);
  edge.kill('SIGTERM');
  await answers.endAsync(true);
  await new Promise((resolve) => (edge.exitCode !== null ? resolve(null) : edge.once('exit', resolve)));
  return { rows, skipped };
}

const header = `${'device'.padEnd(8)}  ${'frame'.padEnd(nameWidth)}  ${'wire B'.padStart(6)}  ${'encode ms'.padStart(9)}  ${'end-to-end ms'.padStart(13)}  answer`;
console.log(header);
console.log('-'.repeat(header.length + 20));
let askMs: number | null = null;
/** "Ask now" as the console's page sends it; the answer is matched by its request id. */
async function askThroughConsole(answers: MqttClient): Promise<void> {
  const prompt = 'What is in front of the camera now?';
  const sentAt = performance.now();
  const reply = await fetch(`${consoleUrl}api/devices/demo-cam/command`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ command: 'ask', prompt }) });
  const { id, error } = (await reply.json()) as { id?: string; error?: string };
  if (!reply.ok || !id) throw new Error(`demo: the console refused the ask: ${error ?? reply.status}`);
  const answer = await waitFor<AnswerEnvelope>(`the answer to ask ${id}`, 60_000, (done) =>
    answers.on('message', (_topic, payload) => {
      const envelope = parseAnswer(payload);
      if (envelope.requestId === id) done(envelope);
    }),
  );
  askMs = performance.now() - sentAt;
  console.log(`\nAsk now through the console (request ${id}, "${prompt}"): answered in ${Math.round(askMs)} ms: ${said(answer)}`);
  if (process.env.SPLITOCULO_DEMO_KEEP === '1') {
    console.log(`The console stays up at ${consoleUrl} with demo-cam connected; Ctrl-C stops the demo.`);
    await new Promise((resolve) => process.once('SIGINT', resolve));
    for (const child of children) {
      stopped.add(child);
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve)));
    }
    rmSync(work, { recursive: true, force: true });
    process.exit(0);
  }
}
const { rows, skipped } = await replay('demo-cam', 'neural', askThroughConsole);
console.log("\nThe same frames as JPEG (the edge's 224x224 crop, quality 85), answered through the whole vision tower:");
const whole = await replay('demo-cam-jpeg', 'jpeg');

stopped.add(worker);
worker.kill('SIGTERM');
await new Promise((resolve) => (worker.exitCode !== null ? resolve(null) : worker.once('exit', resolve)));
rmSync(work, { recursive: true, force: true });

// Pair by sample file: a frame agrees when both paths answered and the texts are identical.
const wholeByImage = new Map(whole.rows.map((r) => [r.image, r.answer]));
console.log('\nSame answer from the 3 KB frame as from the whole picture (same language model, greedy):');
let agree = 0;
for (const row of [...rows].sort((a, b) => a.image.localeCompare(b.image))) {
  const other = wholeByImage.get(row.image);
  const same = other !== undefined && row.answer.text !== undefined && other.text === row.answer.text;
  if (same) agree++;
  console.log(`  ${row.image.padEnd(nameWidth)}  ${same ? 'same     ' : 'different'}${same || !other ? '' : `  whole picture: ${said(other)}`}`);
}

const answered = rows.filter((r) => r.answer.text !== undefined);
const stage = (key: keyof AnswerEnvelope['timings']) => mean(rows.map((r) => r.answer.timings[key] ?? 0)).toFixed(1);
const wire = rows.reduce((a, r) => a + r.bytes, 0);
const files = rows.reduce((a, r) => a + r.fileBytes, 0);
const jpegWire = whole.rows.reduce((a, r) => a + r.bytes, 0);
console.log(`
Summary (${samples.length} sample files)
  frames answered             ${answered.length} of ${rows.length} sent (${rows.length - answered.length} error answers), ${skipped} skipped at the edge (truncated.jpg is broken on purpose)
  bytes on the wire           ${wire} in all, ${Math.round(wire / rows.length)} per frame; the image files were ${files} (${(files / wire).toFixed(1)}x more)
  edge encode ms (mean)       ${mean(rows.map((r) => r.encodeMs)).toFixed(1)}
  end-to-end ms               median ${Math.round(
    percentile(
      rows.map((r) => r.endToEndMs),
      0.5,
    ),
  )}, p95 ${Math.round(
    percentile(
      rows.map((r) => r.endToEndMs),
      0.95,
    ),
  )}
  worker stages ms (mean)     queue ${stage('queueMs')}, cloud.onnx ${stage('cloudMs')}, vision tail ${stage('tailMs')}, language model ${stage('languageModelMs')}
  whole picture (JPEG)        ${whole.rows.length} frames, ${Math.round(jpegWire / Math.max(1, whole.rows.length))} bytes per frame (${(jpegWire / wire).toFixed(1)}x the neural frames)
  same answer as whole picture ${agree} of ${rows.length} frames
  ask now (console)           ${askMs === null ? 'not answered' : `answered in ${Math.round(askMs)} ms`}`);
if (untrained || qwenUntrained) console.log('\nThe answers above are noise from random weights: the pipeline is real, the language model is not trained.');
process.exit(answered.length === rows.length && rows.length > 0 && whole.rows.length === rows.length ? 0 : 1);
