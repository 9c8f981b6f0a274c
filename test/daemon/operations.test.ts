// What operators rely on: TLS and passwords, systemd readiness and watchdog,
// journald priorities, the libcamera path, queue replay, check, status.
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { decodeFrame } from '../../protocol/wire/frame.ts';
import { makePki } from '../helpers/certificates.ts';
import { edgeCase } from '../helpers/edge-case.ts';
import { EDGE_BIN, EdgeProcess, stopAllEdges } from '../helpers/edge-process.ts';
import { FrameCollector } from '../helpers/frame-collector.ts';
import { freePort, Mosquitto } from '../helpers/mosquitto.ts';
import { scrapeMetric, waitForMetric } from '../helpers/metrics.ts';
import { queuedFrames } from '../helpers/outbox-state.ts';
import { waitUntil } from '../helpers/wait.ts';
import { FRAMES_DIR, REPO_ROOT } from '../helpers/paths.ts';

const run = promisify(execFile);
const root = mkdtempSync(join(tmpdir(), 'splitoculo-ops-'));
chmodSync(root, 0o755); // mosquitto reads certificates and password files as its own user
after(() => rmSync(root, { recursive: true, force: true }));
afterEach(stopAllEdges);

function setup(url: string, overrides: Record<string, unknown> = {}): { path: string; dir: string } {
  return edgeCase(
    root,
    {
      device: { id: 'ops-cam' },
      camera: { type: 'file', path: join(FRAMES_DIR, 'coffee.png') },
      capture: { intervalMs: 100 },
      mqtt: { url, backoffInitialMs: 100, backoffMaxMs: 300 },
    },
    overrides,
  );
}

describe('transport security', () => {
  it('publishes over mutual TLS, and names the failure when the broker is signed by another CA or its certificate has expired', async () => {
    const pki = makePki(join(root, 'pki'));
    const other = makePki(join(root, 'other-pki'));
    const port = await freePort();
    const broker = await Mosquitto.start(port, (p) => [
      `listener ${p} 127.0.0.1`,
      `cafile ${pki.ca}`,
      `certfile ${pki.server.cert}`,
      `keyfile ${pki.server.key}`,
      'require_certificate true',
      'use_identity_as_username true',
    ]);
    try {
      const url = `mqtts://127.0.0.1:${port}`;
      const worker = pki.client('worker');
      const collector = await FrameCollector.connect(url, 'tls-collector', undefined, {
        ca: readFileSync(pki.ca),
        cert: readFileSync(worker.cert),
        key: readFileSync(worker.key),
      });
      const device = pki.client('ops-cam');
      const good = setup(url, { mqtt: { ca: pki.ca, cert: device.cert, key: device.key }, capture: { maxFrames: 2 } });
      const edge = new EdgeProcess(good.path);
      await collector.waitForCount(2);
      assert.equal(collector.frames[0]!.deviceId, 'ops-cam');
      assert.equal((await edge.stop()).code, 0);
      await collector.close();

      const refusedMetrics = await freePort();
      const bad = setup(url, { mqtt: { ca: other.ca, cert: device.cert, key: device.key }, capture: { maxFrames: 1 }, metrics: { port: refusedMetrics } });
      const refused = new EdgeProcess(bad.path);
      const error = await refused.waitFor((l) => l.msg === 'mqtt error');
      assert.match(String(error.err), /self[- ]signed|unable to verify|certificate/i);
      assert.equal(await scrapeMetric(refusedMetrics, 'splitoculo_frames_published_total'), 0, 'nothing acknowledged');
      assert.equal((await refused.stop()).code, 0);

      // The test certificates are valid for two days: three days on, the broker's has expired.
      const libfaketime = readdirSync('/usr/lib')
        .map((d) => join('/usr/lib', d, 'faketime', 'libfaketime.so.1'))
        .find((f) => existsSync(f));
      assert.ok(libfaketime, 'libfaketime (Debian package faketime) is installed');
      const expiredMetrics = await freePort();
      const later = setup(url, { mqtt: { ca: pki.ca, cert: device.cert, key: device.key }, capture: { maxFrames: 1 }, metrics: { port: expiredMetrics } });
      const expired = new EdgeProcess(later.path, [], { ...process.env, LD_PRELOAD: libfaketime, FAKETIME: '+3d' });
      const expiry = await expired.waitFor((l) => l.msg === 'mqtt error');
      assert.match(String(expiry.err), /certificate has expired/i);
      assert.equal(await scrapeMetric(expiredMetrics, 'splitoculo_frames_published_total'), 0, 'nothing acknowledged');
      assert.equal((await expired.stop()).code, 0);
    } finally {
      await broker.dispose();
    }
  });

  it('logs in with a username and a password file, and reports a wrong password', async () => {
    const port = await freePort();
    const passwords = join(root, 'passwd');
    writeFileSync(passwords, '');
    execFileSync('mosquitto_passwd', ['-b', passwords, 'ops-cam', 'correct horse']);
    execFileSync('chmod', ['0644', passwords]);
    const broker = await Mosquitto.start(port, (p) => [`listener ${p} 127.0.0.1`, 'allow_anonymous false', `password_file ${passwords}`]);
    try {
      const secret = join(root, 'mqtt-password');
      writeFileSync(secret, 'correct horse\n', { mode: 0o600 });
      const metricsPort = await freePort();
      const good = setup(broker.url, { mqtt: { username: 'ops-cam', passwordFile: secret }, capture: { maxFrames: 1 }, metrics: { port: metricsPort } });
      // In a cloud worker's place (same login): a frame no one subscribes to stays queued (unrouted-frames.test.ts).
      const taker = await FrameCollector.connect(broker.url, 'ops-taker', 'splitoculo/v1/+/frame', { username: 'ops-cam', password: 'correct horse', protocolVersion: 5 });
      const edge = new EdgeProcess(good.path);
      await waitForMetric(metricsPort, 'splitoculo_frames_published_total', (n) => n >= 1);
      assert.equal((await edge.stop()).code, 0);
      await taker.close();

      const wrong = join(root, 'wrong-password');
      writeFileSync(wrong, 'battery staple\n', { mode: 0o600 });
      const bad = setup(broker.url, { mqtt: { username: 'ops-cam', passwordFile: wrong }, capture: { maxFrames: 1 } });
      const refused = new EdgeProcess(bad.path);
      const error = await refused.waitFor((l) => l.msg === 'mqtt error');
      assert.match(String(error.err), /Not authorized|Bad User Name or Password/i);
      assert.equal((await refused.stop()).code, 0);

      // check and queue replay log in as the daemon does (password file), not anonymously.
      const checked = await run(process.execPath, [EDGE_BIN, 'check', '-c', good.path, '--timeout', '5000']);
      assert.match(checked.stdout, /^ok {3}broker: /m);
      const denied = await run(process.execPath, [EDGE_BIN, 'check', '-c', bad.path, '--timeout', '5000']).catch((e) => e);
      assert.equal(denied.code, 1);
      assert.match(denied.stdout, /^FAIL broker: .*(Not authorized|Bad User Name or Password)/im);
    } finally {
      await broker.dispose();
    }
  });
});

describe('operations', () => {
  it('tells systemd it is ready once model and queue are open (broker absent), then pings the watchdog', async () => {
    const socketPath = join(root, 'notify.sock');
    const listener = spawn('/usr/bin/python3', [join(REPO_ROOT, 'test', 'fixtures', 'notify_listener.py'), socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    const messages: string[] = [];
    listener.stdout.on('data', (d: Buffer) => messages.push(...d.toString().trim().split('\n')));
    try {
      await waitUntil(() => messages.includes('listening'), 5000, 'listener');
      const { path } = setup(`mqtt://127.0.0.1:${await freePort()}`);
      const edge = new EdgeProcess(path, [], { ...process.env, NOTIFY_SOCKET: socketPath, WATCHDOG_USEC: '1000000', JOURNAL_STREAM: '8:1234' });
      await waitUntil(() => messages.some((m) => m.includes('READY=1')), 15_000, 'READY=1');
      await waitUntil(() => messages.filter((m) => m.includes('WATCHDOG=1')).length >= 2, 10_000, 'two watchdog pings');
      // Under journald every log line carries its syslog priority.
      assert.ok(edge.raw.length > 0 && edge.raw.every((line) => /^<[0-7]>\{/.test(line)), edge.raw[0]);
      assert.ok(edge.raw.some((line) => line.startsWith('<6>')));
      assert.equal((await edge.stop()).code, 0);
      await waitUntil(() => messages.some((m) => m.includes('STOPPING=1')), 5000, 'STOPPING=1');
    } finally {
      listener.kill();
    }
  });

  it('runs a libcamera camera app as one long-lived child', async () => {
    const metricsPort = await freePort();
    const { path } = setup(`mqtt://127.0.0.1:${await freePort()}`, {
      camera: { type: 'libcamera', command: join(REPO_ROOT, 'test', 'fixtures', 'bin', 'fake-rpicam-vid.ts'), width: 640, height: 427, fps: 15 },
      capture: { maxFrames: 3, intervalMs: 50 },
      metrics: { port: metricsPort },
    });
    const edge = new EdgeProcess(path, [], { ...process.env, FAKE_CAMERA_JPEGS: join(FRAMES_DIR, 'rocket.jpg') });
    // Counted, not read from the log: three frames captured and committed to the outbox.
    await waitForMetric(metricsPort, 'splitoculo_frames_captured_total', (n) => n >= 3);
    assert.equal(await waitForMetric(metricsPort, 'splitoculo_frames_queued_total', (n) => n >= 3), 3);
    assert.equal(await scrapeMetric(metricsPort, 'splitoculo_frames_dropped_total', { reason: 'camera-restart' }), 0, 'the camera child was started once');
    assert.equal((await edge.stop()).code, 0);
  });

  it('replays a queue to a broker on demand, and check reports each part', async () => {
    const nowhere = `mqtt://127.0.0.1:${await freePort()}`;
    const { path, dir: caseDir } = setup(nowhere, { capture: { maxFrames: 3 } });
    const edge = new EdgeProcess(path);
    await waitUntil(() => queuedFrames(join(caseDir, 'outbox.db')) >= 3, 20_000, 'three frames queued');
    assert.equal((await edge.stop()).code, 0);

    const failed = await run(process.execPath, [EDGE_BIN, 'check', '-c', path, '--timeout', '2000']).catch((e) => e);
    assert.equal(failed.code, 1);
    assert.match(failed.stdout, /^ok {3}config: device ops-cam$/m);
    assert.match(failed.stdout, /^ok {3}model: tiny [0-9a-f]{32}, edge\.onnx hash verified$/m);
    assert.match(failed.stdout, /^ok {3}camera: file .*coffee\.png: got/m);
    assert.match(failed.stdout, /^FAIL broker: /m);

    const broker = await Mosquitto.start();
    try {
      const collector = await FrameCollector.connect(broker.url, 'replay-collector');
      const ok = await run(process.execPath, [EDGE_BIN, 'check', '-c', path, '--set', `mqtt.url=${broker.url}`]);
      assert.match(ok.stdout, /^ok {3}broker: /m);
      const replay = await run(process.execPath, [EDGE_BIN, 'queue', 'replay', '-c', path, '--to', broker.url]);
      assert.match(replay.stdout, /replayed 3 frames/);
      await collector.waitForCount(3);
      assert.deepEqual(collector.sequences(), [1, 2, 3]);
      const status = JSON.parse((await run(process.execPath, [EDGE_BIN, 'queue', 'status', '-c', path, '--json'])).stdout);
      assert.equal(status.rows, 0);
      await collector.close();
    } finally {
      await broker.dispose();
    }
  });

  it('marks frames captured before the build time as clock-unreliable, in sequence order, with one warning', async () => {
    const { path, dir } = setup(`mqtt://127.0.0.1:${await freePort()}`, { capture: { maxFrames: 3 } });
    // libfaketime preloaded into the daemon itself (the faketime wrapper would not pass SIGTERM on).
    const libfaketime = readdirSync('/usr/lib')
      .map((d) => join('/usr/lib', d, 'faketime', 'libfaketime.so.1'))
      .find((f) => existsSync(f));
    assert.ok(libfaketime, 'libfaketime (Debian package faketime) is installed');
    const edge = new EdgeProcess(path, [], { ...process.env, LD_PRELOAD: libfaketime, FAKETIME: '@1970-01-02 00:00:00' });
    await waitUntil(() => queuedFrames(join(dir, 'outbox.db')) >= 3, 20_000, 'three frames queued');
    assert.equal(
      edge.count((l) => typeof l.msg === 'string' && l.msg.startsWith('the system clock is earlier than this build')),
      1,
    );
    assert.equal((await edge.stop()).code, 0);
    await run(process.execPath, [EDGE_BIN, 'queue', 'export', '-c', path, '--out', join(dir, 'export')]);
    const frames = readdirSync(join(dir, 'export'))
      .sort()
      .map((f) => decodeFrame(readFileSync(join(dir, 'export', f))));
    assert.deepEqual(
      frames.map((f) => f.sequence),
      [1, 2, 3],
    );
    assert.ok(frames.every((f) => f.clockUnreliable && f.captureTimeMs < 2 * 86_400_000));
  });

  it('republishes its retained status after every reconnect', async () => {
    const broker = await Mosquitto.start();
    try {
      const { path } = setup(broker.url, { capture: { paused: true } });
      const edge = new EdgeProcess(path);
      await edge.waitFor((l) => l.msg === 'connected to the broker');
      const restartedAt = Date.now();
      await broker.restart('SIGKILL');
      await waitUntil(() => edge.count((l) => l.msg === 'connected to the broker') >= 2, 10_000, 'reconnect');
      const watcher = await mqtt.connectAsync(broker.url);
      const retained = new Promise<Record<string, unknown>>((resolve) => watcher.on('message', (_t, p) => resolve(JSON.parse(p.toString()))));
      await watcher.subscribeAsync('splitoculo/v1/ops-cam/status', { qos: 1 });
      const status = await retained;
      assert.equal(status.state, 'online');
      assert.ok(Date.parse(status.at as string) >= restartedAt, 'published after the restart');
      assert.match(status.modelId as string, /^[0-9a-f]{32}$/);
      assert.deepEqual(Object.keys(status.queue as object).sort(), ['bytes', 'evicted', 'frames', 'rejected']);
      assert.equal(status.paused, true);
      await watcher.endAsync();
      assert.equal((await edge.stop()).code, 0);
    } finally {
      await broker.dispose();
    }
  });
});
