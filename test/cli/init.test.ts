// `splitoculo-edge init` (issue 17, item 5) through the real command (child
// processes), with a stand-in v4l2-ctl on PATH answering with a Rock 5B's
// outputs (test/fixtures/v4l2, the texts the cameras tests read): the camera
// chosen, the broker and device id written into the example's text with its
// comments, the result accepted by `config` and by `check`'s config
// validation; an existing file refused without --force; no camera keeps the
// example's camera; bad input (an unknown --camera, a broker URL carrying a
// password) is one line, exit 1 and nothing written.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse } from 'yaml';
import { defaultDeviceId } from '../../runtime/defaults.ts';
import { cli, EDGE_BIN, stderrLines } from '../helpers/cli.ts';
import { REPO_ROOT } from '../helpers/paths.ts';

const FIXTURES = join(REPO_ROOT, 'test/fixtures/v4l2');
const EXAMPLE = readFileSync(join(REPO_ROOT, 'daemon/config/example.yaml'), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'splitoculo-init-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A folder holding a v4l2-ctl that answers as on a Rock 5B: `listDevices` is a shell command printing --list-devices. */
function standInV4l2Ctl(name: string, listDevices: string): string {
  const bin = join(dir, name);
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    join(bin, 'v4l2-ctl'),
    `#!/bin/sh
case "$*" in
  --list-devices) ${listDevices} ;;
  "-d /dev/video0 --list-formats-ext") cat ${FIXTURES}/formats-uvc-c920.txt ;;
  "-d /dev/video11 --list-formats-ext") cat ${FIXTURES}/formats-rkisp-mainpath.txt ;;
  *) cat ${FIXTURES}/formats-uvc-metadata.txt ;;
esac
`,
  );
  chmodSync(join(bin, 'v4l2-ctl'), 0o755);
  return bin;
}
/** The board with its MIPI camera (rkisp) and a UVC webcam. */
const ROCK5B_WITH_WEBCAM = standInV4l2Ctl('rock5b-webcam', `cat ${FIXTURES}/list-devices.txt`);
/** The same board without the webcam: the rkisp cards only. */
const ROCK5B_MIPI_ONLY = standInV4l2Ctl('rock5b-mipi', `sed '/HD Pro Webcam/,$d' ${FIXTURES}/list-devices.txt`);
/** Neither v4l2-ctl nor ffmpeg, and this machine has no /dev/video*: no camera. */
const NO_CAMERA_PATH = `${dirname(process.execPath)}:/usr/sbin:/sbin`;

const init = (bin: string, args: string[]) => cli(EDGE_BIN, ['init', ...args], { env: { PATH: `${bin}:${process.env.PATH}` } });
const readYaml = (path: string) => parse(readFileSync(path, 'utf8')) as { device: { id: string }; camera: Record<string, unknown>; mqtt: { url: string } };

/** Every comment of the example, in order (the file is the example with values changed and one comment added). */
function assertCommentsKept(text: string): void {
  const comments = (t: string) => t.split('\n').flatMap((line) => /#.*$/.exec(line)?.[0] ?? []);
  const written = comments(text).filter((c) => !c.startsWith('# chosen by splitoculo-edge init'));
  assert.deepEqual(written, comments(EXAMPLE));
  assert.equal(text.split('\n').length, EXAMPLE.split('\n').length + 1);
}

describe('splitoculo-edge init', () => {
  it("writes the example with the webcam's MJPEG (passthrough), the broker and the host name; config and check accept it", async () => {
    const out = join(dir, 'webcam', 'edge.yaml');
    const result = await init(ROCK5B_WITH_WEBCAM, ['--broker', 'mqtt://127.0.0.1:1883', '--out', out]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    const written = readYaml(out);
    assert.deepEqual(written.camera, { type: 'v4l2', device: '/dev/video0', inputFormat: 'mjpeg', width: 640, height: 480, fps: 15 });
    assert.equal(written.mqtt.url, 'mqtt://127.0.0.1:1883');
    assert.equal(written.device.id, defaultDeviceId());
    assertCommentsKept(readFileSync(out, 'utf8'));
    assert.equal(statSync(out).mode & 0o777, 0o640);
    assert.deepEqual(readdirSync(dirname(out)), ['edge.yaml'], 'no temporary file left beside it');
    assert.match(result.stdout, /^camera: \/dev\/video0 \(HD Pro Webcam C920\), mjpeg 640x480 at 15 fps$/m);
    assert.match(result.stdout, /^broker: mqtt:\/\/127\.0\.0\.1:1883$/m);

    // The effective configuration as run reads it, and check's config and model checks.
    const config = await cli(EDGE_BIN, ['config', '-c', out]);
    assert.equal(config.code, 0, config.stderr);
    const effective = JSON.parse(config.stdout) as { camera: Record<string, unknown>; mqtt: { url: string }; device: { id: string } };
    for (const [key, value] of Object.entries(written.camera)) assert.deepEqual(effective.camera[key], value, `camera.${key}`);
    assert.equal(effective.mqtt.url, 'mqtt://127.0.0.1:1883');
    assert.equal(effective.device.id, defaultDeviceId());
    const check = await cli(EDGE_BIN, ['check', '-c', out, '--timeout', '500'], {
      env: { SPLITOCULO_OUTBOX__PATH: join(dir, 'state', 'outbox.db'), SPLITOCULO_ANSWERS__JSONL_FILE: join(dir, 'state', 'answers.jsonl') },
    });
    assert.equal(check.stdout.split('\n')[0], `ok   config: device ${defaultDeviceId()}`, check.stdout + check.stderr);
    assert.match(check.stdout, /^ok {3}model: /m);
  });

  it('chooses NV12 on the rkisp main path when the board has only its MIPI camera; --device-id and --camera are taken', async () => {
    const out = join(dir, 'mipi.yaml');
    const result = await init(ROCK5B_MIPI_ONLY, ['--broker', 'mqtts://broker.lan:8883', '--device-id', 'garage-1', '--out', out]);
    assert.equal(result.code, 0, result.stderr);
    const written = readYaml(out);
    assert.deepEqual(written.camera, { type: 'v4l2', device: '/dev/video11', inputFormat: 'nv12', width: 640, height: 480, fps: 15 });
    assert.equal(written.device.id, 'garage-1');
    assert.equal(written.mqtt.url, 'mqtts://broker.lan:8883');

    const named = join(dir, 'named.yaml');
    const chosen = await init(ROCK5B_WITH_WEBCAM, ['--camera', '/dev/video11', '--out', named]);
    assert.equal(chosen.code, 0, chosen.stderr);
    assert.equal(readYaml(named).camera.device, '/dev/video11');
    assert.equal(readYaml(named).mqtt.url, parse(EXAMPLE).mqtt.url, "without --broker the example's URL stays");
  });

  it('refuses to overwrite an existing file without --force: one line naming it, exit 1, the file unchanged', async () => {
    const out = join(dir, 'existing.yaml');
    writeFileSync(out, 'device: { id: mine }\n');
    const refused = await init(ROCK5B_WITH_WEBCAM, ['--broker', 'mqtt://127.0.0.1:1883', '--out', out]);
    assert.equal(refused.code, 1);
    assert.deepEqual(stderrLines(refused), [`splitoculo-edge: error: ${out}: already exists; not overwritten (--force to replace it)`]);
    assert.equal(readFileSync(out, 'utf8'), 'device: { id: mine }\n');
    const forced = await init(ROCK5B_WITH_WEBCAM, ['--broker', 'mqtt://127.0.0.1:1883', '--out', out, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(readYaml(out).camera.device, '/dev/video0');
    assert.equal(statSync(out).mode & 0o777, 0o640);
  });

  it("with no camera, keeps the example's camera and says so in one stderr line (exit 0)", async () => {
    const out = join(dir, 'none.yaml');
    const result = await cli(EDGE_BIN, ['init', '--broker', 'mqtt://127.0.0.1:1883', '--out', out], { env: { PATH: NO_CAMERA_PATH } });
    assert.equal(result.code, 0, result.stderr);
    const lines = stderrLines(result);
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /no camera found; kept the example's camera \(\/dev\/video0, mjpeg\)/);
    const written = readYaml(out);
    assert.deepEqual(written.camera, parse(EXAMPLE).camera);
    assert.equal(written.mqtt.url, 'mqtt://127.0.0.1:1883');
    assert.ok(!readFileSync(out, 'utf8').includes('chosen by splitoculo-edge init'));
  });

  it('bad input is one line and exit 1, and nothing is written: an unknown --camera, a broker URL with a password', async () => {
    const unknown = join(dir, 'unknown.yaml');
    const camera = await init(ROCK5B_WITH_WEBCAM, ['--camera', '/dev/video5', '--out', unknown]);
    assert.equal(camera.code, 1);
    assert.deepEqual(stderrLines(camera), ['splitoculo-edge: error: --camera /dev/video5: not among the cameras found (/dev/video11, /dev/video0); see splitoculo-edge cameras']);
    const secret = join(dir, 'secret.yaml');
    const broker = await init(ROCK5B_WITH_WEBCAM, ['--broker', 'mqtt://cam:hunter2@127.0.0.1:1883', '--out', secret]);
    assert.equal(broker.code, 1);
    const lines = stderrLines(broker);
    assert.equal(lines.length, 1, broker.stderr);
    assert.match(lines[0]!, /mqtt\.url: the URL carries a password/);
    assert.ok(!lines[0]!.includes('hunter2'));
    assert.ok(!existsSync(unknown) && !existsSync(secret));
  });
});
