/**
 * The links x methods table: for each link profile, each method sends the
 * same sample frames one at a time (a gap between them, so each frame has the
 * link to itself, as in the seed's table), in rounds that rotate the order of
 * the methods. Latency = capture time stamped at the edge to the receiver
 * holding the decoded frame; bytes = the link's counters between consecutive
 * receipts. The first frame of every block warms up (connection, first
 * onnxruntime run, the link estimate) and is not counted.
 */
import type { ChildProcess } from 'node:child_process';
import { spawnChild } from '../children.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { openShapedLink, type ShapedLink } from '../link/shaped-link.ts';
import type { LinkProfile } from '../link/profiles.ts';
import type { Method, MethodName } from './methods.ts';
import type { Receipt, Receiver } from './receiver.ts';
import { quantile } from './summary.ts';

const REPO = new URL('../../', import.meta.url).pathname;
const EDGE_BIN = join(REPO, 'daemon/bin/splitoculo-edge.ts');
const PLAIN_SENDER = join(REPO, 'bench/e2e/plain-sender.ts');

export interface FrameRecord {
  link: string;
  method: MethodName;
  round: number;
  sample: string;
  /** What went on the wire: for auto, the codec it chose. */
  kind: Receipt['kind'];
  latencyMs: number;
  payloadBytes: number;
  wireUpBytes: number;
  wireDownBytes: number;
}

export interface TableOptions {
  profiles: readonly LinkProfile[];
  methods: readonly Method[];
  rounds: number;
  /** Sample image files, sent in this order in every block. */
  samples: readonly string[];
  /** Folder holding exactly `samples` (the daemon's directory camera). */
  samplesDir: string;
  modelDir: string;
  brokerPort: number;
  receiver: Receiver;
  linkMode: 'auto' | 'netns' | 'relay';
  log: (line: string) => void;
}

/** Time between frames: the largest JPEG (about 40 KB at Q95) crosses twice over, plus a round trip or two. */
function gapMs(profile: LinkProfile): number {
  return profile.bytesPerSecond ? Math.max(500, Math.round((80_000 / profile.bytesPerSecond) * 1000 + 2 * profile.rttMs)) : 300;
}

function frameTimeoutMs(profile: LinkProfile): number {
  // The largest sample (790 KB) at the link's rate, three times over, plus slack.
  return profile.bytesPerSecond ? Math.round((2_400_000 / profile.bytesPerSecond) * 1000 + 20_000) : 30_000;
}

class PlainSender {
  readonly child: ChildProcess;
  readonly #lines: string[] = [];
  #wake: (() => void) | null = null;

  constructor(link: ShapedLink, modelDir: string, device: string) {
    this.child = spawnChild(link.wrap([process.execPath, PLAIN_SENDER, '--broker', link.brokerUrl, '--device', device, '--model', modelDir]), { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.#lines.push(line);
      this.#wake?.();
    });
  }

  async send(method: 'raw' | 'seed-json', file: string, timeoutMs: number): Promise<void> {
    this.child.stdin!.write(`${method} ${file}\n`);
    const deadline = Date.now() + timeoutMs;
    while (this.#lines.length === 0) {
      if (Date.now() > deadline || this.child.exitCode !== null) throw new Error(`plain sender: no acknowledgement for ${file}`);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 200);
      });
    }
    this.#lines.shift();
  }

  async close(): Promise<void> {
    this.child.stdin!.end();
    if (this.child.exitCode === null) await new Promise((resolve) => this.child.once('close', resolve));
  }
}

export async function measureLinks(options: TableOptions): Promise<{ frames: FrameRecord[]; linkKind: ShapedLink['kind'] }> {
  const frames: FrameRecord[] = [];
  let linkKind: ShapedLink['kind'] = 'userspace-relay';
  const work = mkdtempSync(join(tmpdir(), 'splitoculo-bench-links-'));
  try {
    for (const profile of options.profiles) {
      const link = await openShapedLink(profile, options.brokerPort, options.linkMode);
      linkKind = link.kind;
      const plain = options.methods.some((m) => m.daemon === null) ? new PlainSender(link, options.modelDir, 'bench-plain') : null;
      try {
        for (let round = 0; round < options.rounds; round++) {
          const order = options.methods.map((_, i) => options.methods[(i + round) % options.methods.length]!);
          for (const method of order) {
            const records = method.daemon ? await daemonBlock(options, link, method, round, work) : await plainBlock(options, link, plain!, method, round);
            frames.push(...records);
            const median = quantile(
              records.map((r) => r.latencyMs),
              0.5,
            );
            options.log(`${profile.name.padEnd(8)} ${method.name.padEnd(10)} round ${round + 1}: median ${median.toFixed(0)} ms over ${records.length} frames`);
          }
        }
      } finally {
        await plain?.close();
        await link.close();
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { frames, linkKind };
}

/** Waits for `count` receipts from `device`, recording the link's byte counters at each. */
async function collect(options: TableOptions, link: ShapedLink, device: string, count: number, next: (i: number) => Promise<void>): Promise<Array<{ receipt: Receipt; up: number; down: number }>> {
  const out: Array<{ receipt: Receipt; up: number; down: number }> = [];
  for (let i = 0; i < count; i++) {
    await next(i);
    const receipt = await options.receiver.next(device, frameTimeoutMs(link.profile));
    out.push({ receipt, ...link.bytes() });
  }
  return out;
}

function records(options: TableOptions, link: ShapedLink, method: Method, round: number, got: Array<{ receipt: Receipt; up: number; down: number }>): FrameRecord[] {
  // got[0] is the warm-up; frame i's bytes are the counters' growth since receipt i-1.
  return got.slice(1).map((g, i) => ({
    link: link.profile.name,
    method: method.name,
    round,
    sample: options.samples[(i + 1) % options.samples.length]!,
    kind: g.receipt.kind,
    latencyMs: g.receipt.decodedAt - g.receipt.captureTimeMs,
    payloadBytes: g.receipt.payloadBytes,
    wireUpBytes: g.up - got[i]!.up,
    wireDownBytes: g.down - got[i]!.down,
  }));
}

async function daemonBlock(options: TableOptions, link: ShapedLink, method: Method, round: number, work: string): Promise<FrameRecord[]> {
  const device = `bench-${method.name}`;
  const count = options.samples.length + 1;
  const outbox = join(work, `${device}-${link.profile.name}-${round}.db`);
  const config = join(work, `${device}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      device: { id: device },
      model: { path: options.modelDir, threads: 1 },
      encoding: { ...method.daemon, probeIntervalSeconds: 10 },
      camera: { type: 'directory', path: options.samplesDir, loop: true },
      capture: { intervalMs: gapMs(link.profile), maxFrames: count },
      outbox: { path: outbox },
      mqtt: { url: link.brokerUrl, link: link.profile.preset },
      log: { level: 'warn' },
    }),
  );
  options.receiver.reset(device);
  const pending = collect(options, link, device, count, async () => undefined);
  const child = spawnChild(link.wrap([process.execPath, EDGE_BIN, 'run', '-c', config]), { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    return records(options, link, method, round, await pending);
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await new Promise((resolve) => child.once('close', resolve));
    for (const suffix of ['', '-wal', '-shm']) rmSync(outbox + suffix, { force: true });
  }
}

async function plainBlock(options: TableOptions, link: ShapedLink, sender: PlainSender, method: Method, round: number): Promise<FrameRecord[]> {
  const kind = method.name as 'raw' | 'seed-json';
  // As the daemon's camera: the first sample warms up, then every sample once, starting over from the first.
  const files = [...options.samples, options.samples[0]!].map((name) => join(options.samplesDir, name));
  options.receiver.reset('bench-plain');
  const got = await collect(options, link, 'bench-plain', files.length, async (i) => {
    if (i > 0) await new Promise((r) => setTimeout(r, gapMs(link.profile)));
    await sender.send(kind, files[i]!, frameTimeoutMs(link.profile));
  });
  return records(options, link, method, round, got);
}
