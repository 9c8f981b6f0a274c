/**
 * The edge daemon's resident memory while it works: a real process (node
 * running the sources, or a built binary), a directory of sample images
 * replayed in a loop at `fps`, a real mosquitto taking the frames, sampled
 * every `sampleSeconds`; at the end the smaps breakdown, V8's heap from the
 * daemon's own metrics, threads, and bytes written to storage per queued frame.
 *
 *   node bench/footprint/edge-memory.ts --model .cache/models/full --seconds 60 [--env MALLOC_ARENA_MAX=2] [--program dist/splitoculo-edge-linux-x64]
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { EdgeProcess, writeConfig } from '../../tools/edge-process.ts';
import { Mosquitto, freePort } from '../../tools/mosquitto.ts';
import { REPO_ROOT } from '../../tools/repo-paths.ts';
import { readSmaps, rssMB, threadCount, writeBytes, type MemoryBreakdown } from './smaps.ts';

export interface MemoryRun {
  label: string;
  seconds: number;
  fps: number;
  model: string;
  /** [seconds since start, RSS MB]. */
  series: Array<[number, number]>;
  breakdown: MemoryBreakdown;
  v8HeapMB: number;
  threads: number;
  framesQueued: number;
  blockBytesPerFrame: number;
  /** Preprocess + encode + quantise per frame, from the daemon's own histogram (ms). */
  encodeMsPerFrame: number;
}

export interface MemoryRunOptions {
  label: string;
  model: string;
  seconds: number;
  fps?: number;
  sampleSeconds?: number;
  env?: Record<string, string>;
  /** Another build of the daemon, e.g. [dist/splitoculo-edge-linux-x64]; default: node running the sources. */
  program?: string[];
  /** Where the outbox lives: a real disk, so write_bytes means something. */
  workDir?: string;
  /** model.* settings beyond path and threads (the levers: thread, arena). */
  modelSettings?: Record<string, unknown>;
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.split(' ').pop());
  return sum;
}

export async function measureEdgeMemory(o: MemoryRunOptions): Promise<MemoryRun> {
  const fps = o.fps ?? 10;
  const sampleSeconds = o.sampleSeconds ?? Math.max(1, Math.round(o.seconds / 30));
  const work = mkdtempSync(join(o.workDir ?? join(REPO_ROOT, '.cache'), 'footprint-edge-'));
  const broker = await Mosquitto.start();
  // A subscriber in a cloud worker's place: the edge holds frames no one subscribes to (MQTT 5 PUBACK 0x10).
  const taker = await mqtt.connectAsync(broker.url, { clientId: 'footprint-taker', protocolVersion: 5 });
  await taker.subscribeAsync('splitoculo/v1/+/frame', { qos: 1 });
  try {
    const samples = join(work, 'samples');
    mkdirSync(samples);
    const framesDir = join(REPO_ROOT, 'test/fixtures/frames');
    for (const name of readdirSync(framesDir).filter((f) => /\.(png|jpe?g)$/.test(f) && f !== 'truncated.jpg')) cpSync(join(framesDir, name), join(samples, name));
    const metricsPort = await freePort();
    const config = writeConfig(work, {
      device: { id: 'footprint' },
      model: { path: resolve(o.model), threads: 1, ...o.modelSettings },
      camera: { type: 'directory', path: samples, loop: true },
      capture: { intervalMs: Math.round(1000 / fps) },
      outbox: { path: join(work, 'outbox.db') },
      mqtt: { url: broker.url, link: 'lan' },
      metrics: { port: metricsPort },
      log: { level: 'warn' },
    });
    const edge = new EdgeProcess(config, [], { ...process.env, ...o.env }, o.program);
    try {
      const started = Date.now();
      const series: Array<[number, number]> = [];
      // Up once the metrics answer; the clock starts at spawn (start-up is part of the footprint).
      for (;;) {
        if (Date.now() - started > 120_000) throw new Error(`edge daemon did not serve metrics within 120 s: ${edge.stderr.slice(-500)}`);
        if (edge.child.exitCode !== null) throw new Error(`edge daemon exited (${edge.child.exitCode}): ${edge.stderr.slice(-500)}`);
        if (
          await metric(metricsPort, 'splitoculo_frames_queued_total').then(
            () => true,
            () => false,
          )
        )
          break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const pid = edge.child.pid!;
      const writtenBefore = writeBytes(pid);
      const queuedBefore = await metric(metricsPort, 'splitoculo_frames_queued_total');
      for (let next = sampleSeconds; next <= o.seconds; next += sampleSeconds) {
        await new Promise((r) => setTimeout(r, Math.max(0, started + next * 1000 - Date.now())));
        if (edge.child.exitCode !== null) throw new Error(`edge daemon exited (${edge.child.exitCode}): ${edge.stderr.slice(-500)}`);
        series.push([next, rssMB(pid)]);
      }
      const breakdown = readSmaps(pid);
      const v8HeapMB = Math.round(((await metric(metricsPort, 'nodejs_heap_size_total_bytes')) / 2 ** 20) * 10) / 10;
      const framesQueued = (await metric(metricsPort, 'splitoculo_frames_queued_total')) - queuedBefore;
      const encodeCount = await metric(metricsPort, 'splitoculo_encode_seconds_count');
      const encodeMsPerFrame = encodeCount > 0 ? ((await metric(metricsPort, 'splitoculo_encode_seconds_sum')) / encodeCount) * 1000 : 0;
      const written = writeBytes(pid) - writtenBefore;
      return {
        label: o.label,
        seconds: o.seconds,
        fps,
        model: o.model,
        series,
        breakdown,
        v8HeapMB,
        threads: threadCount(pid),
        framesQueued,
        blockBytesPerFrame: framesQueued > 0 ? Math.round(written / framesQueued) : 0,
        encodeMsPerFrame,
      };
    } finally {
      await edge.stop();
    }
  } finally {
    await taker.endAsync(true);
    await broker.dispose();
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: join(REPO_ROOT, '.cache/models/full') },
      seconds: { type: 'string', default: '60' },
      fps: { type: 'string', default: '10' },
      env: { type: 'string', multiple: true, default: [] },
      program: { type: 'string' },
      label: { type: 'string', default: 'edge' },
    },
  });
  const env = Object.fromEntries(values.env!.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  const run = await measureEdgeMemory({
    label: values.label!,
    model: values.model!,
    seconds: Number(values.seconds),
    fps: Number(values.fps),
    env,
    ...(values.program && { program: [resolve(values.program)] }),
  });
  process.stdout.write(`${JSON.stringify(run)}\n`);
}
