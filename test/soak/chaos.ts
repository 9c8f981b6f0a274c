// The chaos soak: a real mosquitto, edge daemons behind shaped links, cloud
// workers in a shared group, and a seeded controller that SIGKILLs and
// restarts daemons and workers, restarts the broker, and cuts links long
// enough to push the outboxes past their bound. At the end it accounts for
// every frame each daemon committed: answered exactly once in the device's
// store, evicted by the outbox policy, or still queued; and no frame may get
// two different answers. (A frame can be inferred twice when a worker dies
// between publishing its answer and acknowledging the frame and the broker
// hands the frame to the other worker: the device keeps the first answer;
// the report counts these as `reinferred`.)
//   node test/soak/chaos.ts [--minutes 10] [--seed 1] [--evidence DIR]      (make soak MINUTES=10)
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { CLOUD_BIN, EdgeProcess } from '../helpers/edge-process.ts';
import { Mosquitto, freePort } from '../helpers/mosquitto.ts';
import { FRAMES_DIR, TINY_MODEL_DIR, TINY_QWEN_DIR } from '../helpers/paths.ts';
import { TcpRelay } from '../helpers/tcp-proxy.ts';

export interface SoakOptions {
  minutes: number;
  seed: number;
  edges?: number;
  workers?: number;
  log?: (line: string) => void;
  /** Keeps what a lost frame is traced with: the broker's every packet, the daemons' and workers' debug logs, the outboxes, the answers seen. */
  evidenceDir?: string;
}

export interface SoakReport {
  seconds: number;
  /** From the end of the faults until every frame was accounted for (or progress stopped). */
  drainSeconds: number;
  faults: Record<string, number>;
  /** Per device, committed frames by fate (each id in one: answered, else evicted, else queued, else lost);
   *  evictedCounted is the outbox's own counter, evictedUnnamed what it counted beyond the names kept;
   *  lostAnsweredOnWire: lost frames whose answer was published all the same (the edge did not keep it). */
  devices: Array<{
    device: string;
    committed: number;
    answered: number;
    evicted: number;
    queued: number;
    lost: number;
    lostAnsweredOnWire: number;
    evictedCounted: number;
    evictedUnnamed: number;
    maxQueued: number;
    bound: number;
  }>;
  /** Committed frames neither answered, nor named as evicted, nor queued: `<device>/<frame id>`. */
  lost: string[];
  /** Frames that received conflicting answers (different text or error). */
  duplicates: string[];
  /** Frames inferred twice (a worker died between publishing and acknowledging; the broker gave the frame to another). */
  reinferred: number;
  /** Frames the workers refused (damaged, not a frame): the boards send only good frames, so each is damage on the
   *  way, and one whose frame id cannot be read is answered under no id and ends lost (the shaped link once did this). */
  refusedFrames: number;
  answerMessages: number;
  rssMiB: { edgeFirst: number; edgeLast: number; workerFirst: number; workerLast: number };
}

const OUTBOX_BOUND = 24;

/** mulberry32: small, seeded, good enough to pick faults. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What the outbox file holds: queued and answered ids, the ids it named as evicted, and its eviction counters. */
function outboxState(path: string): { queued: Set<string>; answered: Set<string>; evicted: Set<string>; evictedCounted: number } {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const ids = (sql: string) => new Set((db.prepare(sql).all() as { id: string }[]).map((r) => r.id));
    const counted = db.prepare("SELECT coalesce(sum(CAST(value AS INTEGER)), 0) AS n FROM meta WHERE key LIKE 'evicted_%'").get() as { n: number };
    return {
      queued: ids('SELECT frame_id AS id FROM frames WHERE acked_at IS NULL'),
      answered: ids('SELECT frame_id AS id FROM answers'),
      evicted: ids('SELECT frame_id AS id FROM evicted'),
      evictedCounted: counted.n,
    };
  } finally {
    db.close();
  }
}

/** Each committed id in exactly one fate, in this order of precedence: an evicted frame may still have been answered. */
function account(committed: ReadonlySet<string>, state: ReturnType<typeof outboxState>) {
  const fate = { answered: [] as string[], evicted: [] as string[], queued: [] as string[], lost: [] as string[] };
  for (const id of committed) {
    if (state.answered.has(id)) fate.answered.push(id);
    else if (state.evicted.has(id)) fate.evicted.push(id);
    else if (state.queued.has(id)) fate.queued.push(id);
    else fate.lost.push(id);
  }
  return fate;
}

const committedIds = (lives: EdgeProcess[]) => new Set(lives.flatMap((life) => life.lines.filter((l) => l.msg === 'frame queued').map((l) => String(l.frameId))));

function rssMiB(pid: number | undefined): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** The evidence files (--evidence): a lost id is traced from the board's 'frame queued' and 'frame acknowledged'
 *  (by sequence) to the broker's PUBLISH and PUBACK lines and a worker's 'frame taken', 'frame refused' or 'answered'. */
function writeEvidence(
  dir: string,
  run: {
    broker: Mosquitto;
    edges: Array<{ device: string; outbox: string; lives: EdgeProcess[] }>;
    workers: Array<{ lives: EdgeProcess[] }>;
    lost: string[];
    answers: Map<string, { inferences: Set<string> }>;
  },
): void {
  mkdirSync(dir, { recursive: true });
  const logOf = (lives: EdgeProcess[]) => lives.flatMap((life, i) => [...life.raw.map((line) => `L${i} ${line}`), ...(life.stderr ? [`L${i} stderr: ${life.stderr}`] : [])]).join('\n');
  writeFileSync(join(dir, 'broker.log'), run.broker.log);
  writeFileSync(join(dir, 'lost.json'), JSON.stringify(run.lost));
  for (const edge of run.edges) {
    writeFileSync(join(dir, `${edge.device}.log`), logOf(edge.lives));
    copyFileSync(edge.outbox, join(dir, `${edge.device}.db`));
  }
  for (const [i, worker] of run.workers.entries()) writeFileSync(join(dir, `worker-${i}.log`), logOf(worker.lives));
  writeFileSync(join(dir, 'answers.json'), JSON.stringify([...run.answers].map(([id, seen]) => [id, [...seen.inferences]])));
}

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => undefined);
  const rand = random(options.seed);
  const work = mkdtempSync(join(tmpdir(), 'splitoculo-soak-'));
  const broker = await Mosquitto.start(undefined, undefined, { logPackets: options.evidenceDir !== undefined });
  const faults: Record<string, number> = {};
  const count = (kind: string) => (faults[kind] = (faults[kind] ?? 0) + 1);

  // Workers first: frames published to a shared group that no session has ever joined are dropped by
  // the broker; once the workers' persistent sessions exist, the broker keeps frames for them.
  const workers = Array.from({ length: options.workers ?? 2 }, (_, i) => {
    const config = join(work, `worker-${i}.json`);
    writeFileSync(
      config,
      JSON.stringify({
        worker: { id: `soak-worker-${i}`, batchWaitMs: 20 },
        models: { paths: [TINY_MODEL_DIR], threads: 1 },
        answerer: { type: 'local', qwen: TINY_QWEN_DIR, maxNewTokens: 2, threads: 1 },
        mqtt: { url: broker.url, clientId: `soak-worker-${i}`, sharedGroup: 'soak' },
        dedup: { path: join(work, `worker-${i}.db`) },
        ...(options.evidenceDir && { log: { level: 'debug' } }),
      }),
    );
    const start = () => new EdgeProcess(config, [], process.env, [process.execPath, CLOUD_BIN]);
    return { config, start, lives: [start()] };
  });
  await Promise.all(workers.map((w) => w.lives[0]!.waitFor((l) => l.msg === 'cloud worker running', 60_000, 'worker start')));

  // Edge daemons, each behind its own shaped link (BLE-like: 125 KB/s, 60 ms).
  const edges = await Promise.all(
    Array.from({ length: options.edges ?? 2 }, async (_, i) => {
      const device = `soak-cam-${i}`;
      const relay = new TcpRelay(await freePort(), broker.port, { bytesPerSecond: 125_000, rttMs: 60 });
      await relay.open();
      const config = join(work, `${device}.json`);
      const outbox = join(work, `${device}.db`);
      writeFileSync(
        config,
        JSON.stringify({
          device: { id: device },
          model: { path: TINY_MODEL_DIR, threads: 1 },
          camera: { type: 'directory', path: FRAMES_DIR, loop: true },
          capture: { intervalMs: 250 },
          outbox: { path: outbox, maxFrames: OUTBOX_BOUND, policy: 'drop-oldest' },
          mqtt: { url: relay.url, backoffInitialMs: 200, backoffMaxMs: 2000 },
          log: { level: 'debug' },
        }),
      );
      return { device, relay, config, outbox, lives: [new EdgeProcess(config)], maxQueued: 0 };
    }),
  );

  // Every answer published, as an integrator with a persistent session sees them.
  const answers = new Map<string, { outcomes: Set<string>; inferences: Set<string> }>();
  let answerMessages = 0;
  const observer: MqttClient = await mqtt.connectAsync(broker.url, { clientId: 'soak-observer', clean: false, reconnectPeriod: 300 });
  observer.on('message', (_topic, payload) => {
    answerMessages++;
    const answer = JSON.parse(payload.toString()) as { frameId: string | null; text?: string; error?: { code: string }; worker?: string; answeredAt: string };
    if (!answer.frameId) return;
    const seen = answers.get(answer.frameId) ?? { outcomes: new Set<string>(), inferences: new Set<string>() };
    seen.outcomes.add(answer.text ?? `error ${answer.error?.code}`);
    seen.inferences.add(`${answer.worker} ${answer.answeredAt}`); // a republished stored answer is the same inference
    answers.set(answer.frameId, seen);
  });
  await observer.subscribeAsync('splitoculo/v1/+/answer', { qos: 1 });

  const rss: Record<'edge' | 'worker', number[]> = { edge: [], worker: [] };
  const sampler = setInterval(() => {
    for (const edge of edges) {
      rss.edge.push(rssMiB(edge.lives.at(-1)!.child.pid));
      try {
        const db = new Database(edge.outbox, { readonly: true, fileMustExist: true });
        edge.maxQueued = Math.max(edge.maxQueued, (db.prepare('SELECT count(*) AS n FROM frames WHERE acked_at IS NULL').get() as { n: number }).n);
        db.close();
      } catch {
        // not created yet, or busy: the next sample counts
      }
    }
    for (const worker of workers) rss.worker.push(rssMiB(worker.lives.at(-1)!.child.pid));
  }, 2000);

  const started = Date.now();
  const end = started + options.minutes * 60_000;
  // Each kind of fault once, in a seeded order, then at random.
  const firstRound = [0.1, 0.4, 0.6, 0.9]
    .map((pick) => ({ pick, key: rand() }))
    .sort((a, b) => a.key - b.key)
    .map((x) => x.pick);
  while (Date.now() < end) {
    await sleep(4000 + rand() * 4000);
    const pick = firstRound.shift() ?? rand();
    if (pick < 0.3) {
      const edge = edges[Math.floor(rand() * edges.length)]!;
      log(`SIGKILL ${edge.device}`);
      await edge.lives.at(-1)!.stop('SIGKILL');
      await sleep(500 + rand() * 1500);
      edge.lives.push(new EdgeProcess(edge.config));
      count('edge SIGKILL + restart');
    } else if (pick < 0.55) {
      const worker = workers[Math.floor(rand() * workers.length)]!;
      log('SIGKILL a worker');
      await worker.lives.at(-1)!.stop('SIGKILL');
      await sleep(1000 + rand() * 2000);
      worker.lives.push(worker.start());
      count('worker SIGKILL + restart');
    } else if (pick < 0.7) {
      // The boards come back after the workers: mosquitto 2.0 forgets shared subscriptions over its
      // restart, and frames published before the workers subscribe again would be dropped (cloud/README.md).
      log('broker restart');
      const subscribed = () => workers.reduce((n, w) => n + w.lives.at(-1)!.count((l) => l.msg === 'subscribed'), 0);
      const before = subscribed();
      for (const edge of edges) await edge.relay.close();
      await broker.restart('SIGTERM');
      const deadline = Date.now() + 30_000;
      while (subscribed() < before + workers.length && Date.now() < deadline) await sleep(100);
      for (const edge of edges) await edge.relay.open();
      count('broker restart');
    } else {
      const edge = edges[Math.floor(rand() * edges.length)]!;
      const outage = 7000 + rand() * 7000; // 28-56 captures at 4/s: past the bound of 24
      log(`link of ${edge.device} cut for ${Math.round(outage)} ms`);
      await edge.relay.close();
      await sleep(outage);
      await edge.relay.open();
      count('link cut (outbox past its bound)');
    }
  }

  // Stop capturing, let every queue drain and every answer arrive.
  for (const edge of edges) await observer.publishAsync(`splitoculo/v1/${edge.device}/command`, JSON.stringify({ command: 'pause' }), { qos: 1 });
  // Drain until everything is accounted for, or until no answer has arrived for a minute (at most 15 minutes).
  const drainDeadline = Date.now() + 15 * 60_000;
  const settled = () =>
    edges.every((edge) => {
      try {
        const state = outboxState(edge.outbox);
        return state.queued.size === 0 && account(committedIds(edge.lives), state).lost.length === 0;
      } catch {
        return false; // busy: the next look counts
      }
    });
  let lastProgress = Date.now();
  let lastCount = answerMessages;
  while (!settled() && Date.now() < drainDeadline && Date.now() - lastProgress < 60_000) {
    await sleep(1000);
    if (answerMessages !== lastCount) {
      lastCount = answerMessages;
      lastProgress = Date.now();
    }
  }
  const drainSeconds = Math.round((Date.now() - end) / 1000);
  clearInterval(sampler);
  await sleep(2000); // answers already published reach the observer

  const devices: SoakReport['devices'] = [];
  const lost: string[] = [];
  for (const edge of edges) {
    await edge.lives.at(-1)!.stop('SIGTERM');
    const committed = committedIds(edge.lives);
    const state = outboxState(edge.outbox);
    const fate = account(committed, state);
    lost.push(...fate.lost.map((id) => `${edge.device}/${id}`));
    devices.push({
      device: edge.device,
      committed: committed.size,
      answered: fate.answered.length,
      evicted: fate.evicted.length,
      queued: state.queued.size,
      lost: fate.lost.length,
      lostAnsweredOnWire: fate.lost.filter((id) => answers.has(id)).length,
      evictedCounted: state.evictedCounted,
      evictedUnnamed: Math.max(0, state.evictedCounted - state.evicted.size),
      maxQueued: edge.maxQueued,
      bound: OUTBOX_BOUND,
    });
    await edge.relay.close();
  }
  for (const worker of workers) await worker.lives.at(-1)!.stop('SIGTERM');
  await observer.endAsync(true);
  if (options.evidenceDir) writeEvidence(options.evidenceDir, { broker, edges, workers, lost, answers });
  await broker.dispose();
  rmSync(work, { recursive: true, force: true });

  const third = (xs: number[], which: 'first' | 'last') => {
    const n = Math.max(1, Math.floor(xs.length / 3));
    const part = which === 'first' ? xs.slice(0, n) : xs.slice(-n);
    return Math.round(Math.max(0, ...part));
  };
  return {
    seconds: Math.round((Date.now() - started) / 1000),
    drainSeconds,
    faults,
    devices,
    lost,
    duplicates: [...answers].filter(([, seen]) => seen.outcomes.size > 1).map(([id]) => id),
    reinferred: [...answers].filter(([, seen]) => seen.inferences.size > 1).length,
    refusedFrames: workers.reduce((n, w) => n + w.lives.reduce((m, life) => m + life.count((l) => l.msg === 'frame refused'), 0), 0),
    answerMessages,
    rssMiB: { edgeFirst: third(rss.edge, 'first'), edgeLast: third(rss.edge, 'last'), workerFirst: third(rss.worker, 'first'), workerLast: third(rss.worker, 'last') },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, seed: { type: 'string', default: '1' }, evidence: { type: 'string' } } });
  const report = await runSoak({
    minutes: Number(values.minutes),
    seed: Number(values.seed),
    log: (line) => console.log(`${new Date().toISOString()} ${line}`),
    ...(values.evidence !== undefined && { evidenceDir: values.evidence }),
  });
  console.log(JSON.stringify(report, null, 2));
  process.exit(report.lost.length === 0 && report.duplicates.length === 0 && report.refusedFrames === 0 ? 0 : 1);
}
