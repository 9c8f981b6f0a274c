/**
 * The board's footprint in one run (issue 17): the edge daemon's resident
 * memory over time with its smaps breakdown, the encoder against a bare
 * session.run, each camera path against the one it replaced, the outbox's
 * bytes written per frame, and the release tarballs' sizes when dist/ holds
 * them. Writes footprint.json and footprint.md into the results folder.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Manifest } from '../../protocol/manifest/schema.ts';
import { REPO_ROOT } from '../../tools/repo-paths.ts';
import type { StageCost } from '../stages/paired.ts';
import { type CameraPathCost, cameraPathCosts } from './camera-paths.ts';
import type { DiskWriteResult } from './disk-writes.ts';
import { measureEdgeMemory, type MemoryRun } from './edge-memory.ts';
import { encoderRatio } from './encoder-ratio.ts';

export interface FootprintResults {
  memory: MemoryRun[];
  /** The same daemon with one setting changed at a time, shorter runs, the default first. */
  levers: Array<MemoryRun & { lever: string }>;
  /** The encoder on each thread (model.thread), the daemon's default first. */
  encoders: Array<StageCost & { minRatio: number; thread: string }>;
  cameras: CameraPathCost[];
  disk: DiskWriteResult[];
  tarballs: Array<{ file: string; bytes: number }>;
}

export interface FootprintOptions {
  quick: boolean;
  modelDir: string;
  out: string;
  log: (line: string) => void;
  /** Which daemons to watch (default: the sources, and the x64 binary when dist/ has it, not in quick mode), and for how long. */
  runs?: Array<'sources' | 'binary'>;
  memorySeconds?: number;
}

/** The goals of issue 17, checked against a run. */
export const GOALS = { rssMB: 150, encoderRatio: 1.15, diskRatio: 2.5, tarballBytes: 60_000_000 };

export async function footprint(o: FootprintOptions): Promise<FootprintResults> {
  const manifest = JSON.parse(readFileSync(join(o.modelDir, 'manifest.json'), 'utf8')) as Manifest;
  const memory: MemoryRun[] = [];
  const binary = join(REPO_ROOT, 'dist', 'splitoculo-edge-linux-x64');
  const runs = o.runs ?? (o.quick || !existsSync(binary) ? ['sources'] : ['sources', 'binary']);
  const seconds = o.memorySeconds ?? (o.quick ? 8 : 600);
  o.log(`footprint: edge memory, ${runs.join(' and ')}, ${seconds} s each`);
  // The sources run with the unit's environment (the binary sets the same itself: cross-build/sea-entry.ts).
  const unit = { NODE_OPTIONS: '--max-semi-space-size=1', MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '65536' };
  if (runs.includes('sources')) memory.push(await measureEdgeMemory({ label: "node running the sources, the unit's environment", model: o.modelDir, seconds, env: unit }));
  if (runs.includes('binary')) memory.push(await measureEdgeMemory({ label: 'x64 single binary, started by hand', model: o.modelDir, seconds, program: [binary] }));
  const levers: FootprintResults['levers'] = [];
  const leverProgram = runs.includes('binary') ? { program: [binary] } : { env: unit };
  const leverSeconds = o.quick ? 4 : 120;
  o.log(`footprint: levers, ${leverSeconds} s each`);
  for (const [lever, modelSettings] of [
    ['defaults (model.thread: main, model.arena: true)', {}],
    ['model.thread: worker (the encoder in its own isolate)', { thread: 'worker' }],
    ["model.arena: false (onnxruntime's working memory freed after each run)", { arena: false }],
  ] as const) {
    levers.push({ lever, ...(await measureEdgeMemory({ label: lever, model: o.modelDir, seconds: leverSeconds, modelSettings, ...leverProgram })) });
  }
  o.log('footprint: encoder against bare session.run');
  const encoders = [];
  for (const thread of ['main', 'worker'] as const) encoders.push(await encoderRatio(o.modelDir, o.quick ? 5 : 60, thread));
  o.log('footprint: camera paths');
  const cameras = await cameraPathCosts({ preprocess: manifest.preprocess, frames: o.quick ? 5 : 60, width: 1280, height: 720 });
  o.log('footprint: outbox bytes written per frame');
  const disk: DiskWriteResult[] = [];
  // Queued frames (the goal), then answered ones (a 600-byte answer each, the store at its bound).
  for (const [synchronous, answers] of [
    ['normal', []],
    ['full', []],
    ['normal', ['--answer-bytes', '600', '--max-answers', '1000']],
  ] as const) {
    // A child each: /proc/self/io must count nothing but SQLite.
    const args = [join(REPO_ROOT, 'bench/footprint/disk-writes.ts'), '--frames', o.quick ? '300' : '3000', '--synchronous', synchronous, ...answers];
    disk.push(JSON.parse(execFileSync(process.execPath, args, { encoding: 'utf8' })) as DiskWriteResult);
  }
  const dist = join(REPO_ROOT, 'dist');
  const tarballs = existsSync(dist)
    ? readdirSync(dist)
        .filter((f) => /\.tar\.(gz|xz|zst)$/.test(f))
        .map((file) => ({ file, bytes: statSync(join(dist, file)).size }))
    : [];
  const results: FootprintResults = { memory, levers, cameras, disk, tarballs, encoders };
  writeFileSync(join(o.out, 'footprint.json'), `${JSON.stringify(results, null, 1)}\n`);
  writeFileSync(join(o.out, 'footprint.md'), renderFootprint(results));
  return results;
}

const mb = (n: number) => n.toFixed(1);
const met = (ok: boolean) => (ok ? 'met' : 'missed');

export function renderFootprint(r: FootprintResults): string {
  const lines = ['# Footprint', ''];
  lines.push('## Resident memory (edge daemon, 10 frames/s, directory source looping the samples, real mosquitto)', '');
  lines.push(
    `Goal: at most ${GOALS.rssMB} MB, flat.`,
    '',
    '| run | model | first sample | end | max | frames queued | threads | V8 heap (main) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const m of r.memory) {
    const [firstAt, first] = m.series[0]!;
    const end = m.series[m.series.length - 1]![1];
    lines.push(
      `| ${m.label}, ${m.seconds} s | ${m.model.replace(REPO_ROOT, '')} | ${mb(first)} (${firstAt} s) | ${mb(end)} (${met(end <= GOALS.rssMB)}) | ${mb(Math.max(...m.series.map(([, v]) => v)))} | ${m.framesQueued} | ${m.threads} | ${mb(m.v8HeapMB)} |`,
    );
  }
  for (const m of r.memory) {
    lines.push('', `Over time, ${m.label} (s: MB): ${m.series.map(([t, v]) => `${t}: ${v.toFixed(0)}`).join(', ')}`);
    lines.push('', `Breakdown at the end (smaps Rss, MB), ${m.label}:`, '', '| mapping | MB |', '| --- | ---: |');
    for (const [group, value] of Object.entries(m.breakdown.groups)) if (value >= 0.5) lines.push(`| ${group} | ${mb(value)} |`);
  }
  if (r.levers.length) {
    const base = r.levers[0]!;
    const end = (m: MemoryRun) => m.series[m.series.length - 1]![1];
    lines.push('', `## Levers (${base.seconds} s each at 10 frames/s, one setting changed from the defaults)`, '');
    lines.push('| lever | RSS at the end (MB) | against the defaults | anonymous + brk heap (MB) | encode stage per frame (ms) | frames queued |', '| --- | ---: | ---: | ---: | ---: | ---: |');
    const anon = (m: MemoryRun) => Object.entries(m.breakdown.groups).reduce((sum, [group, v]) => sum + (group.startsWith('anonymous') || group.startsWith('brk') ? v : 0), 0);
    for (const l of r.levers) {
      const delta = end(l) - end(base);
      lines.push(`| ${l.lever} | ${mb(end(l))} | ${l === base ? '' : `${delta >= 0 ? '+' : ''}${mb(delta)}`} | ${mb(anon(l))} | ${l.encodeMsPerFrame.toFixed(1)} | ${l.framesQueued} |`);
    }
  }
  lines.push('', '## Encoder against a bare session.run (same model, one thread, same run)', '');
  lines.push('| model.thread | median of per-pair ratios | ms | bare ms | pairs | best against best | goal |', '| --- | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const e of r.encoders) {
    lines.push(
      `| ${e.thread} | ${e.ratio.toFixed(2)} | ${mb(e.medianMs)} | ${mb(e.referenceMs)} | ${e.pairs} | ${e.minRatio.toFixed(2)} | ${GOALS.encoderRatio}: ${met(e.ratio <= GOALS.encoderRatio)} |`,
    );
  }
  lines.push('', '## Camera paths (per frame: ffmpeg CPU + the daemon up to the 224x224 crop)', '', '| camera | path | ms | reference | ms | ratio |', '| --- | --- | ---: | --- | ---: | ---: |');
  for (const c of r.cameras) {
    lines.push(`| ${c.camera} | ${c.path} | ${mb(c.ffmpegMs + c.daemonMs)} | ${c.reference} | ${mb(c.referenceFfmpegMs + c.referenceDaemonMs)} | ${c.ratio.toFixed(2)} |`);
  }
  lines.push(
    '',
    '## Outbox bytes written per frame',
    '',
    'Queued: enqueue, attempt, acknowledgement (the goal). Answered: the same, and its answer stored (600 bytes, the store at its bound of 1,000, trimmed in batches).',
    '',
    '| frames | synchronous | frame bytes | written (write syscalls) | ratio | block layer | ratio |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const d of r.disk) {
    const goal = d.answerBytes > 0 ? '' : ` (${met(d.syscallRatio <= GOALS.diskRatio)})`;
    lines.push(
      `| ${d.answerBytes > 0 ? 'answered' : 'queued'} | ${d.synchronous.toUpperCase()} | ${d.frameBytes} | ${d.syscallBytesPerFrame} | ${d.syscallRatio.toFixed(2)}${goal} | ${d.blockBytesPerFrame} | ${d.blockRatio.toFixed(2)} |`,
    );
  }
  lines.push('', '## Release tarballs', '');
  if (r.tarballs.length === 0) lines.push('No dist/ in this run (`make binary` first).');
  else {
    lines.push('| file | MB | goal (arm64 edge) |', '| --- | ---: | --- |');
    for (const t of r.tarballs) lines.push(`| ${t.file} | ${(t.bytes / 1e6).toFixed(1)} | ${t.file.includes('edge-linux-arm64') ? met(t.bytes <= GOALS.tarballBytes) : ''} |`);
  }
  return `${lines.join('\n')}\n`;
}

if (import.meta.main) {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: join(REPO_ROOT, 'bench/results') },
      model: { type: 'string', default: join(REPO_ROOT, '.cache/models/full') },
      runs: { type: 'string' },
      seconds: { type: 'string' },
      render: { type: 'boolean' },
    },
  });
  if (values.render) {
    // Re-render footprint.md from a footprint.json (after a change to the report's layout).
    writeFileSync(join(values.out!, 'footprint.md'), renderFootprint(JSON.parse(readFileSync(join(values.out!, 'footprint.json'), 'utf8'))));
    process.exit(0);
  }
  const t0 = performance.now();
  await footprint({
    quick: false,
    modelDir: values.model!,
    out: values.out!,
    log: (line) => console.log(`[footprint ${((performance.now() - t0) / 1000).toFixed(0)}s] ${line}`),
    ...(values.runs && { runs: values.runs.split(',') as Array<'sources' | 'binary'> }),
    ...(values.seconds && { memorySeconds: Number(values.seconds) }),
  });
}
