// "From a Rock 5B to answers" (README.md), step by step with the release
// tarball as a user gets it: unpack, install.sh into a DESTDIR root,
// `systemd-analyze verify` of the installed unit in that root, then the
// installed binary with the installed configuration and nothing changed but
// the broker's URL: `check` passes (models built in, camera, broker, paths),
// and `run` delivers frames. The arm64 binary runs under qemu-user. This
// machine has no camera: a stand-in for ffmpeg on PATH plays a UVC webcam
// (MJPEG on stdout), so the installed v4l2 camera setting is used as it is.
// State paths are moved into the test's folder (SPLITOCULO_OUTBOX__PATH,
// SPLITOCULO_ANSWERS__JSONL_FILE), as systemd's StateDirectory would be.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { FrameCollector } from '../test/helpers/frame-collector.ts';
import { Mosquitto } from '../test/helpers/mosquitto.ts';
import { REPO_ROOT } from '../test/helpers/paths.ts';

const exec = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'splitoculo-first-run-'));
after(() => rmSync(work, { recursive: true, force: true }));

const TARGETS = [
  { name: 'splitoculo-edge-linux-x64', emulated: false },
  { name: 'splitoculo-edge-linux-arm64', emulated: true },
];

/** A UVC webcam as ffmpeg would read it with `-c:v copy`: MJPEG frames on stdout until stopped. */
async function fakeFfmpeg(dir: string): Promise<string> {
  const stream = join(dir, 'webcam.mjpeg');
  await exec('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=640x480:rate=10', '-frames:v', '10', '-f', 'mjpeg', stream]);
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'ffmpeg'), `#!/bin/sh\n# stands in for: ffmpeg "$@"\nwhile true; do cat ${stream}; sleep 1; done\n`, { mode: 0o755 });
  return bin;
}

for (const target of TARGETS) {
  describe(`first run: ${target.name}`, () => {
    const dir = join(work, target.name);
    const dest = join(dir, 'root');
    const tarball = join(REPO_ROOT, 'dist', `${target.name}.tar.xz`);

    it('unpacks and installs into a DESTDIR root, and the installed unit passes systemd-analyze verify there', async () => {
      assert.ok(existsSync(tarball), `${tarball}: run \`make binary\` first`);
      mkdirSync(dir, { recursive: true });
      await exec('tar', ['xf', tarball, '-C', dir]);
      const unpacked = join(dir, target.name);
      await exec(join(unpacked, 'install.sh'), ['install'], { env: { ...process.env, DESTDIR: dest } });
      for (const path of ['usr/bin/splitoculo-edge', 'usr/lib/systemd/system/splitoculo-edge.service', 'etc/splitoculo/edge.yaml']) {
        assert.ok(existsSync(join(dest, path)), path);
      }
      assert.equal(statSync(join(dest, 'usr/bin/splitoculo-edge')).mode & 0o777, 0o755);
      // The root also needs the standard targets the unit orders itself after.
      const system = join(dest, 'usr/lib/systemd/system');
      for (const name of readdirSync('/usr/lib/systemd/system')) {
        if (/\.(target|slice)$/.test(name)) copyFileSync(join('/usr/lib/systemd/system', name), join(system, name));
      }
      const verify = await exec('systemd-analyze', ['verify', `--root=${dest}`, 'splitoculo-edge.service'], { cwd: dest }).catch((error: { stderr: string; code: number }) => error);
      assert.equal((verify as { stderr: string }).stderr.trim(), '');
    });

    const run = (args: string[]) => {
      const binary = join(dest, 'usr/bin/splitoculo-edge');
      return target.emulated ? [join(REPO_ROOT, 'cross-build/qemu/run-arm64.sh'), binary, ...args] : [binary, ...args];
    };

    it('with only the broker URL set, check passes and run delivers frames from the installed config', { timeout: 600_000 }, async () => {
      const config = join(dest, 'etc/splitoculo/edge.yaml');
      assert.match(readFileSync(config, 'utf8'), /type: v4l2/);
      const broker = await Mosquitto.start();
      const bin = await fakeFfmpeg(dir);
      const env = {
        ...process.env,
        PATH: `${bin}:${process.env.PATH}`,
        SPLITOCULO_CACHE_DIR: join(dir, 'cache'),
        SPLITOCULO_MQTT__URL: broker.url,
        SPLITOCULO_OUTBOX__PATH: join(dir, 'state/outbox.db'),
        SPLITOCULO_ANSWERS__JSONL_FILE: join(dir, 'state/answers.jsonl'),
      };
      try {
        const [checkFile, ...checkArgs] = run(['check', '-c', config, '--timeout', '60000']);
        const check = await exec(checkFile!, checkArgs, { env, timeout: 300_000 }).catch((error: { stdout: string; stderr: string }) => error);
        assert.ok(!('code' in check && check.code), `check failed:\n${check.stdout}${check.stderr}`);
        const collector = await FrameCollector.connect(broker.url, `first-run-${target.name}`);
        const [runFile, ...runArgs] = run(['run', '-c', config]);
        const daemon = spawn(runFile!, runArgs, { env, stdio: 'ignore' });
        try {
          await collector.waitForCount(2, 300_000);
          assert.ok(
            collector.frames.every((f) => f.deviceId === 'rock5b-kitchen' && f.codec === 'neural-u8'),
            JSON.stringify(collector.frames.map((f) => [f.deviceId, f.codec])),
          );
        } finally {
          daemon.kill('SIGTERM');
          await collector.close();
        }
      } finally {
        await broker.dispose();
      }
    });
  });
}
