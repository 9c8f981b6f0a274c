/**
 * The outbox at scale: fill it with N frames while offline, then measure the
 * database size per frame, the daemon's start time with the full queue (its
 * reference: the same start with an empty queue, alternated) and the drain
 * rate over shaped links, counted from the outbox itself.
 */
import { spawnChild } from '../children.ts';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { SqliteOutbox } from '../../daemon/outbox/sqlite-outbox.ts';
import { loadModel } from '../../protocol/manifest/load.ts';
import { encodeFrame } from '../../protocol/wire/frame.ts';
import { quantise } from '../../protocol/wire/quantise.ts';
import { quantile } from '../e2e/summary.ts';
import { openShapedLink } from '../link/shaped-link.ts';
import type { LinkProfile } from '../link/profiles.ts';

const EDGE_BIN = new URL('../../daemon/bin/splitoculo-edge.ts', import.meta.url).pathname;

export interface QueueOptions {
  modelDir: string;
  /** An image for the (paused) camera: the daemon insists on a usable one. */
  sample: string;
  frames: number;
  startRuns: number;
  drainSeconds: number;
  profiles: readonly LinkProfile[];
  brokerPort: number;
  linkMode: 'auto' | 'netns' | 'relay';
}

export interface QueueResult {
  frames: number;
  frameBytes: number;
  fillSeconds: number;
  fillFramesPerSecond: number;
  databaseBytes: number;
  bytesPerFrame: number;
  startFullMs: number;
  startEmptyMs: number;
  startRatio: number;
  drains: Array<{ link: string; linkBytesPerSecond: number | null; framesPerSecond: number; payloadBytesPerSecond: number; linkUse: number | null }>;
}

function fileBytes(path: string): number {
  return ['', '-wal'].reduce((sum, suffix) => {
    try {
      return sum + statSync(path + suffix).size;
    } catch {
      return sum;
    }
  }, 0);
}

function daemonConfig(dir: string, name: string, modelDir: string, outbox: string, url: string, link: LinkProfile['preset'], frames: number): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      device: { id: 'bench-queue' },
      model: { path: modelDir, threads: 1 },
      camera: { type: 'directory', path: join(dir, 'camera') },
      capture: { paused: true }, // paused: the queue is all it sends
      outbox: { path: outbox, maxFrames: frames * 2, maxBytes: frames * 10_000 },
      // Its own topic prefix, taken by one QoS 0 subscriber next to the broker (the queue is what is measured; a
      // frame nobody subscribes to would stay queued: PUBACK 0x10).
      mqtt: { url, link, topicPrefix: 'splitoculo-bench-queue/v1' },
      log: { level: 'info' },
    }),
  );
  return path;
}

/** ms from spawn to the daemon's "running" line. */
async function startTime(config: string, wrap: (c: string[]) => string[] = (c) => c): Promise<{ ms: number; stop: () => Promise<void> }> {
  const started = performance.now();
  const child = spawnChild(wrap([process.execPath, EDGE_BIN, 'run', '-c', config]), { stdio: ['ignore', 'pipe', 'inherit'] });
  const ms = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.includes('"edge daemon running"')) resolve(performance.now() - started);
    });
    child.once('close', (code) => reject(new Error(`edge daemon exited (${code}) before running`)));
  });
  return {
    ms,
    stop: async () => {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((resolve) => child.once('close', resolve));
    },
  };
}

export async function queueAtScale(o: QueueOptions): Promise<QueueResult> {
  const dir = mkdtempSync(join(tmpdir(), 'splitoculo-bench-queue-'));
  try {
    mkdirSync(join(dir, 'camera'));
    copyFileSync(o.sample, join(dir, 'camera', basename(o.sample)));
    const model = await loadModel(o.modelDir, ['edge']);
    const { count, width } = model.manifest.tokens;
    const full = join(dir, 'full.db');
    const outbox = new SqliteOutbox({ path: full, limits: { maxRows: o.frames * 2, maxBytes: o.frames * 10_000, ttlMs: 0, policy: 'drop-oldest', maxAnswers: 10 }, synchronous: 'normal' });
    const tokens = quantise(
      Float32Array.from({ length: count * width }, (_, i) => Math.sin(i)),
      count,
      width,
      'per-tensor',
    );
    let frameBytes = 0;
    const fillStart = performance.now();
    for (let i = 0; i < o.frames; i++) {
      const identity = outbox.nextIdentity();
      const bytes = encodeFrame({ codec: 'neural-u8', modelId: model.manifest.modelId, deviceId: 'bench-queue', ...identity, captureTimeMs: Date.now(), clockUnreliable: false, prompt: null, tokens });
      frameBytes = bytes.length;
      outbox.enqueue({ ...identity, capturedAt: Date.now(), bytes });
    }
    const fillSeconds = (performance.now() - fillStart) / 1000;
    outbox.close();
    const databaseBytes = fileBytes(full);

    const offline = 'mqtt://127.0.0.1:1';
    const fullConfig = daemonConfig(dir, 'start-full', o.modelDir, full, offline, 'lan', o.frames);
    const emptyConfig = daemonConfig(dir, 'start-empty', o.modelDir, join(dir, 'empty.db'), offline, 'lan', o.frames);
    const fullMs: number[] = [];
    const emptyMs: number[] = [];
    for (let run = 0; run < o.startRuns; run++) {
      for (const [config, into] of [
        [emptyConfig, emptyMs],
        [fullConfig, fullMs],
      ] as const) {
        const started = await startTime(config);
        into.push(started.ms);
        await started.stop();
      }
    }

    const drains: QueueResult['drains'] = [];
    const taker = await mqtt.connectAsync(`mqtt://127.0.0.1:${o.brokerPort}`, { clientId: 'bench-queue-taker', protocolVersion: 5 });
    await taker.subscribeAsync('splitoculo-bench-queue/v1/+/frame', { qos: 0 });
    for (const profile of o.profiles) {
      const link = await openShapedLink(profile, o.brokerPort, o.linkMode);
      try {
        const config = daemonConfig(dir, `drain-${profile.name}`, o.modelDir, full, link.brokerUrl, profile.preset, o.frames);
        const rows = () => {
          const db = new Database(full, { readonly: true });
          try {
            return (db.prepare('SELECT count(*) AS n FROM frames WHERE acked_at IS NULL').get() as { n: number }).n;
          } finally {
            db.close();
          }
        };
        const initial = rows();
        const daemon = await startTime(config, (c) => link.wrap(c));
        // The window opens once the link is carrying frames: the first acknowledged frames leave the outbox
        // (a fixed wait measured nothing on a loaded machine, where connecting took longer).
        const connectBy = performance.now() + 30_000;
        while (rows() >= initial) {
          if (performance.now() > connectBy) throw new Error(`queue drain over ${profile.name}: no frame left the outbox within 30 s of the daemon's start`);
          await new Promise((r) => setTimeout(r, 50));
        }
        const before = rows();
        const t0 = performance.now();
        await new Promise((r) => setTimeout(r, o.drainSeconds * 1000));
        const sent = before - rows();
        const seconds = (performance.now() - t0) / 1000;
        await daemon.stop();
        const framesPerSecond = sent / seconds;
        drains.push({
          link: profile.name,
          linkBytesPerSecond: profile.bytesPerSecond ?? null,
          framesPerSecond,
          payloadBytesPerSecond: framesPerSecond * frameBytes,
          linkUse: profile.bytesPerSecond ? (framesPerSecond * frameBytes) / profile.bytesPerSecond : null,
        });
      } finally {
        await link.close();
      }
    }
    await taker.endAsync(true);
    const startFullMs = quantile(fullMs, 0.5);
    const startEmptyMs = quantile(emptyMs, 0.5);
    return {
      frames: o.frames,
      frameBytes,
      fillSeconds,
      fillFramesPerSecond: o.frames / fillSeconds,
      databaseBytes,
      bytesPerFrame: databaseBytes / o.frames,
      startFullMs,
      startEmptyMs,
      startRatio: startFullMs / startEmptyMs,
      drains,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
