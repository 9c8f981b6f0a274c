// `make binary-check`: the built executables do real work, natively (x64) and
// under qemu-user (arm64), with the repository's node_modules hidden so
// nothing can be loaded from outside the binary.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { compareTensors } from '../protocol/tensor-compare.ts';
import { decodeNeuralFrame } from '../protocol/wire/frame.ts';
import { dequantise } from '../protocol/wire/quantise.ts';
import { FrameCollector } from '../test/helpers/frame-collector.ts';
import { Mosquitto } from '../test/helpers/mosquitto.ts';
import { FRAMES_DIR, REPO_ROOT, TINY_MODEL_DIR, TINY_QWEN_DIR } from '../test/helpers/paths.ts';
import { waitUntil } from '../test/helpers/wait.ts';

const exec = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'splitoculo-binary-'));
after(() => rmSync(work, { recursive: true, force: true }));

const ARTIFACTS = [
  { name: 'splitoculo-edge-linux-x64', emulated: false },
  { name: 'splitoculo-edge-linux-arm64', emulated: true },
];
const CLOUD = { name: 'splitoculo-cloud-linux-x64', emulated: false };

/** Runs an artifact from outside the repository with node_modules masked; arm64 through qemu. */
function command(artifact: { name: string; emulated: boolean }, args: string[]): [string, string[]] {
  const binary = join(REPO_ROOT, 'dist', artifact.name);
  const inner = artifact.emulated ? [join(REPO_ROOT, 'cross-build', 'qemu', 'run-arm64.sh'), binary, ...args] : [binary, ...args];
  const script = 'mount -t tmpfs none "$0/node_modules" && cd / && exec "$@"';
  return ['unshare', ['--mount', '--propagation', 'private', '--', 'bash', '-c', script, REPO_ROOT, ...inner]];
}

async function runArtifact(artifact: { name: string; emulated: boolean }, args: string[], env: NodeJS.ProcessEnv = {}) {
  const [file, argv] = command(artifact, args);
  return exec(file, argv, { env: { ...process.env, SPLITOCULO_CACHE_DIR: join(work, `cache-${artifact.name}`), ...env }, timeout: 180_000 });
}

async function sourceFrame(out: string): Promise<void> {
  await exec(process.execPath, [join(REPO_ROOT, 'daemon', 'bin', 'splitoculo-edge.ts'), 'encode', join(FRAMES_DIR, 'coffee.png'), '--device', 'cam-0123456789ab', '--out', out]);
}

describe('install.sh', () => {
  it('installs binary, unit and config into DESTDIR, keeps an edited config, and uninstalls without the data', async () => {
    const dest = join(work, 'root');
    const env = { ...process.env, DESTDIR: dest, BINARY: join(REPO_ROOT, 'dist', 'splitoculo-edge-linux-x64') };
    const script = join(REPO_ROOT, 'cross-build', 'install.sh');
    await exec(script, ['install'], { env });
    for (const path of ['usr/bin/splitoculo-edge', 'usr/lib/systemd/system/splitoculo-edge.service', 'etc/splitoculo/edge.yaml']) {
      assert.ok(existsSync(join(dest, path)), path);
    }
    writeFileSync(join(dest, 'etc/splitoculo/edge.yaml'), 'device: { id: edited }\n');
    await exec(script, ['install'], { env });
    assert.equal(readFileSync(join(dest, 'etc/splitoculo/edge.yaml'), 'utf8'), 'device: { id: edited }\n');
    const { stdout } = await exec(join(dest, 'usr/bin/splitoculo-edge'), ['--version'], { env: { ...process.env, SPLITOCULO_CACHE_DIR: join(work, 'cache-install') } });
    assert.match(stdout, /^splitoculo-edge /);
    await exec(script, ['uninstall'], { env });
    assert.ok(!existsSync(join(dest, 'usr/bin/splitoculo-edge')));
    assert.ok(!existsSync(join(dest, 'usr/lib/systemd/system/splitoculo-edge.service')));
    assert.ok(existsSync(join(dest, 'etc/splitoculo/edge.yaml')), 'configuration kept');
  });
});

describe(CLOUD.name, () => {
  it('reports its versions, transformers.js included', async () => {
    assert.ok(existsSync(join(REPO_ROOT, 'dist', CLOUD.name)), 'run `make binary` first');
    const { stdout } = await runArtifact(CLOUD, ['--version']);
    assert.match(stdout, /^splitoculo-cloud \d+\.\d+\.\d+ \(commit [0-9a-f]{12}, built \d{4}-/);
    assert.match(stdout, /^node 24\.21\.0$/m);
    assert.match(stdout, /^@huggingface\/transformers 4\.3\.1$/m);
  });

  it('decodes a frame to the same features as the source tree', async () => {
    const frame = join(work, 'cloud-check.frame');
    await sourceFrame(frame);
    const args = ['decode', frame, '--model', TINY_MODEL_DIR, '--json'];
    const ours = JSON.parse((await runArtifact(CLOUD, args)).stdout);
    const theirs = JSON.parse((await exec(process.execPath, [join(REPO_ROOT, 'cloud', 'bin', 'splitoculo-cloud.ts'), ...args])).stdout);
    assert.deepEqual(ours.features.shape, [256, 64]);
    for (const key of ['mean', 'std', 'min', 'max']) assert.ok(Math.abs(ours.features[key] - theirs.features[key]) < 1e-4, key);
  });
});

describe('single binaries', () => {
  const reference = join(work, 'source.frame');

  for (const artifact of ARTIFACTS) {
    describe(artifact.name, () => {
      it('exists and reports its versions', async () => {
        assert.ok(existsSync(join(REPO_ROOT, 'dist', artifact.name)), 'run `make binary` first');
        const { stdout } = await runArtifact(artifact, ['--version']);
        assert.match(stdout, /^splitoculo-edge \d+\.\d+\.\d+ \(commit [0-9a-f]{12}, built \d{4}-/);
        assert.match(stdout, /^node 24\.21\.0$/m);
        assert.match(stdout, /^sharp 0\.35\.5 \(libvips 8\.\d+\.\d+\)$/m);
        assert.match(stdout, /^better-sqlite3 13\.\d+\.\d+ \(SQLite 3\.\d+\.\d+\)$/m);
      });

      it('encodes a sample into the same frame as the source tree (tokens within quantisation)', async () => {
        if (!existsSync(reference)) await sourceFrame(reference);
        const out = join(work, `${artifact.name}.frame`);
        await runArtifact(artifact, ['encode', join(FRAMES_DIR, 'coffee.png'), '--device', 'cam-0123456789ab', '--out', out]);
        const ours = decodeNeuralFrame(readFileSync(out));
        const theirs = decodeNeuralFrame(readFileSync(reference));
        for (const field of ['codec', 'modelId', 'deviceId', 'sequence', 'prompt', 'clockUnreliable'] as const) assert.deepEqual(ours[field], theirs[field], field);
        assert.equal(readFileSync(out).length, readFileSync(reference).length);
        const a = dequantise(ours.tokens);
        const b = dequantise(theirs.tokens);
        const step = Math.max(ours.tokens.params.scales[0]!, theirs.tokens.params.scales[0]!);
        assert.ok(compareTensors(a, b).maxAbsError <= 2 * step, `tokens differ by more than two quantisation steps`);
      });

      it('runs the daemon: frames reach the broker, the x64 cloud worker binary answers them, the answers are stored', { timeout: 300_000 }, async () => {
        const broker = await Mosquitto.start();
        const dir = join(work, `run-${artifact.name}`);
        mkdirSync(dir);
        const { spawn } = await import('node:child_process');
        const cloudConfig = join(dir, 'cloud.json');
        writeFileSync(
          cloudConfig,
          JSON.stringify({
            models: { paths: [TINY_MODEL_DIR] },
            answerer: { type: 'local', qwen: TINY_QWEN_DIR, maxNewTokens: 4 },
            mqtt: { url: broker.url, clientId: `cloud-for-${artifact.name}` },
            dedup: { path: join(dir, 'answered.db') },
            worker: { id: 'x64-binary' },
          }),
        );
        const [cloudFile, cloudArgv] = command(CLOUD, ['run', '-c', cloudConfig]);
        let cloudLog = '';
        const cloud = spawn(cloudFile, cloudArgv, { env: { ...process.env, SPLITOCULO_CACHE_DIR: join(work, 'cache-cloud') }, stdio: ['ignore', 'pipe', 'pipe'] });
        cloud.stdout!.on('data', (d: Buffer) => (cloudLog += d.toString()));
        cloud.stderr!.on('data', (d: Buffer) => (cloudLog += d.toString()));
        try {
          await waitUntil(() => cloudLog.includes('cloud worker running'), 60_000, `cloud worker start: ${cloudLog.slice(-500)}`);
          const collector = await FrameCollector.connect(broker.url, `check-${artifact.name}`);
          const config = join(dir, 'edge.json');
          writeFileSync(
            config,
            JSON.stringify({
              device: { id: 'binary-cam' },
              camera: { type: 'directory', path: FRAMES_DIR },
              capture: { intervalMs: 100, maxFrames: 2 },
              outbox: { path: join(dir, 'outbox.db') },
              mqtt: { url: broker.url, backoffInitialMs: 200, backoffMaxMs: 1000 },
            }),
          );
          const [file, argv] = command(artifact, ['run', '-c', config]);
          const child = spawn(file, argv, { env: { ...process.env, SPLITOCULO_CACHE_DIR: join(work, `cache-${artifact.name}`) }, stdio: 'ignore' });
          try {
            await collector.waitForCount(2, 120_000);
            let stored: Array<{ frameId: string; worker?: string; text?: string }> = [];
            await waitUntil(() => existsSync(join(dir, 'outbox.db')), 1000, 'outbox');
            for (let i = 0; i < 60 && stored.length < 2; i++) {
              const { stdout } = await runArtifact(artifact, ['answers', '-c', config, '--json']);
              stored = stdout
                .trim()
                .split('\n')
                .filter(Boolean)
                .map((line) => JSON.parse(line));
            }
            assert.equal(stored.length, 2, 'two answers stored on the board');
            assert.deepEqual(new Set(stored.map((a) => a.frameId)), new Set(collector.frames.map((f) => f.frameId)));
            assert.ok(
              stored.every((a) => a.worker === 'x64-binary' && typeof a.text === 'string'),
              JSON.stringify(stored),
            );
          } finally {
            child.kill('SIGTERM');
          }
          await collector.close();
        } finally {
          cloud.kill('SIGTERM');
          await broker.dispose();
        }
      });
    });
  }
});
