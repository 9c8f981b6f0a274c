/**
 * The benchmark: shaped links x methods, stage costs, the queue at scale;
 * writes results.json, report.md and the PNG plots.
 *
 *   node bench/run.ts              full run (by hand; about 20 minutes): full-size models
 *                                  (make models-full models-qwen-vision-3b), all links, 3 rounds,
 *                                  100,000 queued frames -> bench/results/
 *   node bench/run.ts --quick      every path on a few frames with the tiny models, under two minutes (CI)
 *   options: --out DIR, --link auto|netns|relay, --rounds N, --sections links,stages,queue,footprint
 *   footprint (bench/footprint/): the edge's memory, encoder overhead, camera paths, disk writes, tarball sizes
 */
import { execSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Mosquitto } from '../tools/mosquitto.ts';
import { measureLinks, type FrameRecord } from './e2e/link-table.ts';
import { METHODS } from './e2e/methods.ts';
import { Receiver } from './e2e/receiver.ts';
import { PROFILES, profileByName } from './link/profiles.ts';
import { queueAtScale, type QueueResult } from './queue/queue-scale.ts';
import { writeReport, type BenchResults } from './report/write-report.ts';
import { cloudStages } from './stages/cloud-stages.ts';
import { footprint } from './footprint/footprint.ts';
import { edgeStages } from './stages/edge-stages.ts';
import type { StageCost } from './stages/paired.ts';

const REPO = resolve(new URL('..', import.meta.url).pathname);
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    link: { type: 'string', default: 'auto' },
    rounds: { type: 'string' },
    sections: { type: 'string', default: 'links,stages,queue,footprint' },
  },
});
const quick = values.quick!;
const sections = new Set(values.sections!.split(','));
const out = resolve(values.out ?? (quick ? join(REPO, '.cache/bench-quick') : join(REPO, 'bench/results')));
const linkMode = values.link as 'auto' | 'netns' | 'relay';
const modelDir = join(REPO, quick ? 'models/tiny' : '.cache/models/full');
const qwenDirs = quick ? [{ dir: join(REPO, 'models/tiny-qwen'), label: 'tiny stand-in' }] : [{ dir: join(REPO, '.cache/models/qwen-vision-3b'), label: 'Qwen2.5-VL-3B size, random weights' }];
// The Qwen stand-in only for the sections that run the cloud (`--sections footprint` alone needs the edge model only).
const needsQwen = sections.has('links') || sections.has('stages');
for (const dir of [modelDir, ...(needsQwen ? qwenDirs.map((q) => q.dir) : [])]) {
  if (!existsSync(dir)) throw new Error(`${dir} is missing: run make models-full models-qwen-vision-3b (or use --quick)`);
}
const rounds = Number(values.rounds ?? (quick ? 1 : 3));
const framesDir = join(REPO, 'test/fixtures/frames');
const allSamples = readdirSync(framesDir)
  .filter((f) => /\.(png|jpe?g)$/.test(f) && f !== 'truncated.jpg')
  .sort();
// Quick: the two smallest files, so the raw method crosses BLE-low in a second.
const samples = quick ? ['horse.png', 'text.png'] : allSamples;
const profiles = quick ? [profileByName('BLE-low'), profileByName('LAN')] : PROFILES;
const log = (line: string) => console.log(`[bench ${((performance.now() - t0) / 1000).toFixed(0)}s] ${line}`);

const t0 = performance.now();
const startedAt = new Date().toISOString();
mkdirSync(out, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'splitoculo-bench-'));
const samplesDir = join(work, 'samples');
mkdirSync(samplesDir);
for (const name of samples) cpSync(join(framesDir, name), join(samplesDir, name));
const broker = await Mosquitto.start();
let frames: FrameRecord[] = [];
let linkKind = 'none';
let stages: StageCost[] = [];
let queue: QueueResult | null = null;
try {
  if (sections.has('links')) {
    const receiver = await Receiver.connect(broker.url);
    try {
      ({ frames, linkKind } = await measureLinks({ profiles, methods: METHODS, rounds, samples, samplesDir, modelDir, brokerPort: broker.port, receiver, linkMode, log }));
    } finally {
      await receiver.close();
    }
  }
  if (sections.has('stages')) {
    log('stage costs: edge');
    stages = await edgeStages({ modelDir, samples: samples.map((s) => join(samplesDir, s)), pairs: quick ? 3 : 15, brokerUrl: broker.url });
    log('stage costs: cloud');
    stages.push(...(await cloudStages({ modelDir, qwen: qwenDirs, sample: join(samplesDir, samples[0]!), pairs: quick ? 3 : 10, batch: 8 })));
  }
  if (sections.has('queue')) {
    log('queue at scale');
    queue = await queueAtScale({
      modelDir,
      sample: join(samplesDir, samples[0]!),
      frames: quick ? 3_000 : 100_000,
      startRuns: quick ? 1 : 3,
      drainSeconds: quick ? 2 : 20,
      profiles: [profileByName('BLE'), profileByName('LAN')],
      brokerPort: broker.port,
      linkMode,
    });
  }
  if (sections.has('footprint')) await footprint({ quick, modelDir, out, log });
} finally {
  await broker.dispose();
  rmSync(work, { recursive: true, force: true });
}

const manifest = JSON.parse(readFileSync(join(modelDir, 'manifest.json'), 'utf8')) as { modelId: string };
const results: BenchResults = {
  startedAt,
  seconds: (performance.now() - t0) / 1000,
  mode: quick ? 'quick' : 'full',
  command: `node bench/run.ts ${process.argv.slice(2).join(' ')}`.trim(),
  machine: {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: execSync('uname -r').toString().trim(),
    node: process.version,
  },
  models: { splitoculo: modelDir.replace(`${REPO}/`, ''), modelId: manifest.modelId, qwen: qwenDirs.map((q) => `${q.dir.replace(`${REPO}/`, '')} (${q.label})`) },
  linkKind,
  profiles: [...profiles],
  rounds,
  samples,
  frames,
  stages,
  queue,
};
// The footprint writes its own footprint.md; report.md is the other sections' (not overwritten by a footprint-only run).
if (sections.size > 1 || !sections.has('footprint')) {
  await writeReport(results, out);
  log(`wrote ${out}/report.md`);
}
