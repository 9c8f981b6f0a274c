// "From a Rock 5B to answers" (README.md), step by step with the release
// tarball as a user gets it: unpack, `MQTT_URL=... install.sh` into a DESTDIR
// root, which writes edge.yaml with the installed binary's `init` (the camera
// from what `cameras` finds, the broker, the host name as device id);
// `systemd-analyze verify` of the installed unit in that root; then the
// installed binary with the installed configuration as it is: `check` passes
// (models built in, camera, broker, paths), and `run` delivers frames. The
// arm64 binary runs under qemu-user, install.sh's init included (EMULATOR=;
// without it the example is installed, saying why). This machine has no
// camera: a stand-in v4l2-ctl answers as a Rock 5B with a UVC webcam
// (test/fixtures/v4l2, the texts the cameras tests read) and a stand-in for
// ffmpeg plays that webcam (MJPEG on stdout), so the camera init chose is
// used as it is. State paths are moved into the test's folder
// (SPLITOCULO_OUTBOX__PATH, SPLITOCULO_ANSWERS__JSONL_FILE), as systemd's
// StateDirectory would be.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { defaultDeviceId } from '../runtime/defaults.ts';
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

const V4L2_FIXTURES = join(REPO_ROOT, 'test/fixtures/v4l2');
/** v4l2-ctl as on a Rock 5B with its MIPI camera's rkisp nodes and a UVC webcam on /dev/video0. */
function fakeV4l2Ctl(dir: string): string {
  const bin = join(dir, 'v4l2-bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    join(bin, 'v4l2-ctl'),
    `#!/bin/sh
case "$*" in
  --list-devices) cat ${V4L2_FIXTURES}/list-devices.txt ;;
  "-d /dev/video0 --list-formats-ext") cat ${V4L2_FIXTURES}/formats-uvc-c920.txt ;;
  "-d /dev/video11 --list-formats-ext") cat ${V4L2_FIXTURES}/formats-rkisp-mainpath.txt ;;
  *) cat ${V4L2_FIXTURES}/formats-uvc-metadata.txt ;;
esac
`,
    { mode: 0o755 },
  );
  return bin;
}

const QEMU = join(REPO_ROOT, 'cross-build/qemu/run-arm64.sh');

for (const target of TARGETS) {
  describe(`first run: ${target.name}`, () => {
    const dir = join(work, target.name);
    const dest = join(dir, 'root');
    const tarball = join(REPO_ROOT, 'dist', `${target.name}.tar.xz`);
    let broker: Mosquitto | undefined;
    after(() => broker?.dispose());

    it('unpacks and installs into a DESTDIR root with MQTT_URL set: init writes the camera found, the broker and the host name; the installed unit passes systemd-analyze verify there', {
      timeout: 300_000,
    }, async () => {
      assert.ok(existsSync(tarball), `${tarball}: run \`make binary\` first`);
      mkdirSync(dir, { recursive: true });
      await exec('tar', ['xf', tarball, '-C', dir]);
      const unpacked = join(dir, target.name);
      broker = await Mosquitto.start();
      const env = { ...process.env, DESTDIR: dest, MQTT_URL: broker.url, PATH: `${fakeV4l2Ctl(dir)}:${process.env.PATH}`, ...(target.emulated && { EMULATOR: QEMU }) };
      const installed = await exec(join(unpacked, 'install.sh'), ['install'], { env, timeout: 240_000 });
      assert.equal(installed.stderr, '', 'init ran and found a camera: nothing to warn about');
      for (const path of ['usr/bin/splitoculo-edge', 'usr/lib/systemd/system/splitoculo-edge.service', 'etc/splitoculo/edge.yaml']) {
        assert.ok(existsSync(join(dest, path)), path);
      }
      assert.equal(statSync(join(dest, 'usr/bin/splitoculo-edge')).mode & 0o777, 0o755);
      const configFile = join(dest, 'etc/splitoculo/edge.yaml');
      assert.equal(statSync(configFile).mode & 0o777, 0o640);
      const config = parse(readFileSync(configFile, 'utf8')) as { device: { id: string }; camera: Record<string, unknown>; mqtt: { url: string } };
      assert.deepEqual(config.camera, { type: 'v4l2', device: '/dev/video0', inputFormat: 'mjpeg', width: 640, height: 480, fps: 15 });
      assert.equal(config.mqtt.url, broker.url);
      assert.equal(config.device.id, defaultDeviceId());
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

    it('check passes and run delivers frames from the installed config as init wrote it', { timeout: 600_000 }, async () => {
      const config = join(dest, 'etc/splitoculo/edge.yaml');
      assert.match(readFileSync(config, 'utf8'), /type: v4l2/);
      const mqtt = broker;
      assert.ok(mqtt, 'the install step started the broker');
      const bin = await fakeFfmpeg(dir);
      const env = {
        ...process.env,
        PATH: `${bin}:${process.env.PATH}`,
        SPLITOCULO_CACHE_DIR: join(dir, 'cache'),
        SPLITOCULO_OUTBOX__PATH: join(dir, 'state/outbox.db'),
        SPLITOCULO_ANSWERS__JSONL_FILE: join(dir, 'state/answers.jsonl'),
      };
      const [checkFile, ...checkArgs] = run(['check', '-c', config, '--timeout', '60000']);
      const check = await exec(checkFile!, checkArgs, { env, timeout: 300_000 }).catch((error: { stdout: string; stderr: string }) => error);
      assert.ok(!('code' in check && check.code), `check failed:\n${check.stdout}${check.stderr}`);
      const collector = await FrameCollector.connect(mqtt.url, `first-run-${target.name}`);
      const [runFile, ...runArgs] = run(['run', '-c', config]);
      const daemon = spawn(runFile!, runArgs, { env, stdio: 'ignore' });
      try {
        await collector.waitForCount(2, 300_000);
        assert.ok(
          collector.frames.every((f) => f.deviceId === defaultDeviceId() && f.codec === 'neural-u8'),
          JSON.stringify(collector.frames.map((f) => [f.deviceId, f.codec])),
        );
      } finally {
        daemon.kill('SIGTERM');
        await collector.close();
      }
    });

    if (target.emulated) {
      // This machine runs arm64 binaries only through cross-build/qemu/run-arm64.sh (no binfmt_misc registration).
      it('without a way to run the binary here (no EMULATOR), install.sh installs the example and says why', async () => {
        const root = join(dir, 'root-no-emulator');
        const installed = await exec(join(dir, target.name, 'install.sh'), ['install'], { env: { ...process.env, DESTDIR: root, MQTT_URL: 'mqtt://127.0.0.1:1883', EMULATOR: '' } });
        assert.equal(readFileSync(join(root, 'etc/splitoculo/edge.yaml'), 'utf8'), readFileSync(join(REPO_ROOT, 'daemon/config/example.yaml'), 'utf8'));
        assert.equal(statSync(join(root, 'etc/splitoculo/edge.yaml')).mode & 0o777, 0o640);
        assert.match(installed.stderr.trim(), /^install\.sh: splitoculo-edge init did not run here \(.*Exec format error\); installed the example configuration: .*$/);
      });
    }
  });
}
