// What people read: readable logs on a terminal and JSON otherwise, a failed
// start that says its cause first, a normal stop without warnings,
// reconnect warnings limited, and progress plus a summary from `queue
// export` and `queue replay`.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { JobProgress } from '../../daemon/cli/progress.ts';
import { configSchema } from '../../daemon/config/schema.ts';
import { openOutbox } from '../../daemon/edge-daemon.ts';
import { LogLimiter } from '../../runtime/log-limiter.ts';
import { cli, EDGE_BIN } from '../helpers/cli.ts';
import { EdgeProcess, stopAllEdges, type LogLine } from '../helpers/edge-process.ts';
import { edgeCase } from '../helpers/edge-case.ts';
import { FrameCollector } from '../helpers/frame-collector.ts';
import { sampleFrameBytes } from '../helpers/frames.ts';
import { freePort, Mosquitto } from '../helpers/mosquitto.ts';
import { FRAMES_DIR, REPO_ROOT } from '../helpers/paths.ts';
import { waitFor } from '../helpers/wait.ts';

const root = mkdtempSync(join(tmpdir(), 'splitoculo-output-'));
after(() => rmSync(root, { recursive: true, force: true }));
afterEach(stopAllEdges);

const camera = { type: 'file', path: join(FRAMES_DIR, 'coffee.png') };
const warnings = (lines: LogLine[]) => lines.filter((l) => (l.level as number) >= 40);

describe('logs', () => {
  it('readable lines on a terminal (or when asked), JSON lines otherwise', async () => {
    const script = (format: string) =>
      `import { createLogger } from ${JSON.stringify(join(REPO_ROOT, 'runtime', 'logger.ts'))};` +
      `createLogger('info', { format: '${format}', terminal: false }).warn({ queued: 3 }, 'outbox nearly full');`;
    const json = await cli('--input-type=module', ['-e', script('auto')]);
    const line = JSON.parse(json.stdout);
    assert.deepEqual([line.level, line.msg, line.queued], [40, 'outbox nearly full', 3]);
    const pretty = await cli('--input-type=module', ['-e', script('pretty')]);
    assert.match(pretty.stdout, /^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: outbox nearly full \{"queued":3\}\n$/);
    assert.equal(pretty.stdout.includes('\u001b['), false, 'no colours when stdout is not a terminal');
  });

  it('a repeated warning is logged once per window, then with the count left out', () => {
    let now = 0;
    const logged: Array<Record<string, unknown>> = [];
    const limiter = new LogLimiter({ warn: (fields: Record<string, unknown>) => logged.push(fields) } as never, 60_000, () => now);
    for (let i = 0; i < 10; i++, now += 1000) limiter.warn('mqtt error', { err: 'ECONNREFUSED' }, 'mqtt error');
    assert.equal(logged.length, 1);
    now = 60_000;
    limiter.warn('mqtt error', { err: 'ECONNREFUSED' }, 'mqtt error');
    assert.deepEqual(logged[1], { err: 'ECONNREFUSED', suppressed: 9 });
    limiter.reset('mqtt error');
    assert.equal(limiter.warn('mqtt error', {}, 'mqtt error'), true, 'news again after a reset');
  });

  it('a failed start logs its cause first, before what stopping the started parts logs', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const { path } = edgeCase(root, { camera, mqtt: { url: `mqtt://127.0.0.1:${await freePort()}` }, metrics: { port } });
      const edge = new EdgeProcess(path);
      const exit = await edge.exited;
      assert.equal(exit.code, 1);
      const problems = edge.lines.filter((l) => (l.level as number) >= 40);
      assert.ok(problems.length >= 1, JSON.stringify(edge.lines));
      assert.equal(problems[0]!.level, 50);
      assert.match(String(problems[0]!.err), new RegExp(`metrics\\.port ${port}`));
      assert.match(edge.stderr.trim(), new RegExp(`^splitoculo-edge: error: metrics\\.port ${port}: `));
      assert.equal(edge.stderr.trim().split('\n').length, 1);
    } finally {
      blocker.close();
    }
  });

  it('a normal stop is not a warning; a broker that stays away is not a warning per reconnect', async () => {
    const broker = await Mosquitto.start();
    try {
      const { path } = edgeCase(root, { camera, capture: { intervalMs: 60_000 }, mqtt: { url: broker.url } });
      const edge = new EdgeProcess(path);
      await edge.waitFor((l) => l.msg === 'connected to the broker', 20_000, 'connected');
      assert.equal((await edge.stop()).code, 0);
      assert.deepEqual(warnings(edge.lines), []);
    } finally {
      await broker.dispose();
    }
    const { path } = edgeCase(root, { camera, mqtt: { url: `mqtt://127.0.0.1:${await freePort()}`, backoffInitialMs: 50, backoffMaxMs: 100 } });
    const away = new EdgeProcess(path);
    await away.waitFor((l) => l.msg === 'reconnecting after backoff' && (l.attempt as number) >= 15, 30_000, 'fifteen reconnects');
    assert.equal((await away.stop()).code, 0);
    assert.equal(warnings(away.lines).length, 1, JSON.stringify(warnings(away.lines)));
  });
});

describe('queue export and replay', () => {
  function filledOutbox(frames: number): string {
    const dir = mkdtempSync(join(root, 'queue-'));
    const { path } = edgeCase(dir, { camera, mqtt: { url: 'mqtt://127.0.0.1:1' } });
    const config = configSchema.parse({ device: { id: 'test-cam' }, model: { path: '.' }, camera, outbox: { path: join(dir, 'case-0', 'outbox.db') }, mqtt: { url: 'mqtt://127.0.0.1:1' } });
    const outbox = openOutbox(config);
    for (let i = 0; i < frames; i++) {
      const { sequence, frameId } = outbox.nextIdentity();
      outbox.enqueue({ sequence, frameId, capturedAt: Date.now(), bytes: sampleFrameBytes({ deviceId: 'test-cam' }) });
    }
    outbox.close();
    return path;
  }

  it('progress lines off a terminal and a summary with count, bytes and rate', async () => {
    const path = filledOutbox(4);
    const out = join(root, 'exported');
    const exported = await cli(EDGE_BIN, ['queue', 'export', '-c', path, '--out', out, '--progress-every', '0']);
    assert.equal(exported.code, 0, exported.stderr);
    const size = sampleFrameBytes({ deviceId: 'test-cam' }).length;
    assert.deepEqual(
      exported.stderr.trim().split('\n'),
      [1, 2, 3, 4].map((n) => `export: ${n}/4 frames (${n * 25}%), ${n * size} bytes`),
    );
    assert.match(exported.stdout, new RegExp(`^exported 4 frames to .*: 4 frames \\(${4 * size} bytes\\) in \\d+\\.\\d s \\([\\d.]+ frames/s\\)\n$`));
    assert.equal(readdirSync(out).length, 4);

    const broker = await Mosquitto.start();
    try {
      const collector = await FrameCollector.connect(broker.url, 'progress-collector');
      const replay = await cli(EDGE_BIN, ['queue', 'replay', '-c', path, '--to', broker.url]);
      assert.equal(replay.code, 0, replay.stderr);
      assert.match(replay.stdout, new RegExp(`^replayed 4 frames to mqtt://.*: 4 frames \\(${4 * size} bytes\\) in `));
      assert.deepEqual(replay.stderr.trim().split('\n'), [`replay: 4/4 frames (100%), ${4 * size} bytes`], 'the default: a line every 5 s, and the last');
      await waitFor(() => collector.frames.length === 4, { what: 'four frames replayed' });
      await collector.close();
    } finally {
      await broker.dispose();
    }
    const bad = await cli(EDGE_BIN, ['queue', 'export', '-c', path, '--out', out, '--progress-every', 'soon']);
    assert.equal(bad.code, 2);
  });

  it('lines at most every interval on injected time; a bar on a terminal', () => {
    let now = 0;
    const lines: string[] = [];
    const progress = new JobProgress('replay', 100, { terminal: false, everyMs: 5000, write: (t) => lines.push(t), now: () => now });
    for (let i = 0; i < 100; i++) {
      now += 200;
      progress.tick(10);
    }
    assert.deepEqual(lines, [
      'replay: 25/100 frames (25%), 250 bytes\n',
      'replay: 50/100 frames (50%), 500 bytes\n',
      'replay: 75/100 frames (75%), 750 bytes\n',
      'replay: 100/100 frames (100%), 1000 bytes\n',
    ]);
    assert.equal(progress.finish(), '100 frames (1000 bytes) in 20.0 s (5.0 frames/s)');
  });
});
