// `splitoculo-edge cameras` (issue 17, item 3): the parsers on real-format
// outputs of v4l2-ctl and ffmpeg (a Rock 5B with its rkisp nodes and a UVC
// webcam), the whole command with those outputs behind a v4l2-ctl on PATH,
// and its "no cameras found" line on this machine, which has no /dev/video*.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseFfmpegListFormats, parseListDevices, parseListFormatsExt, suggestCamera } from '../../daemon/sources/v4l2-formats.ts';
import { cli, EDGE_BIN } from '../helpers/cli.ts';
import { REPO_ROOT } from '../helpers/paths.ts';

const FIXTURES = join(REPO_ROOT, 'test/fixtures/v4l2');
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'splitoculo-cameras-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('cameras', () => {
  it('reads v4l2-ctl --list-devices: cards and their nodes', () => {
    const devices = parseListDevices(fixture('list-devices.txt'));
    assert.deepEqual(
      devices.map((d) => d.name),
      ['rkisp-statistics', 'rkisp_mainpath', 'HD Pro Webcam C920'],
    );
    assert.deepEqual(devices[2]!.nodes, ['/dev/video0', '/dev/video1', '/dev/media0']);
    assert.equal(devices[1]!.nodes[0], '/dev/video11');
  });

  it('reads --list-formats-ext: formats, discrete sizes with frame rates, stepwise ranges', () => {
    const uvc = parseListFormatsExt(fixture('formats-uvc-c920.txt'));
    assert.deepEqual(
      uvc.map((f) => [f.fourcc, f.inputFormat]),
      [
        ['YUYV', 'yuyv422'],
        ['MJPG', 'mjpeg'],
        ['H264', null],
      ],
    );
    assert.deepEqual(uvc[1]!.sizes[0], { width: 640, height: 480, fps: [30, 15] });
    const rkisp = parseListFormatsExt(fixture('formats-rkisp-mainpath.txt'));
    assert.equal(rkisp.find((f) => f.fourcc === 'NV12')!.inputFormat, 'nv12');
    assert.deepEqual(rkisp[0]!.range, { minWidth: 32, minHeight: 32, maxWidth: 3840, maxHeight: 2160 });
    assert.deepEqual(parseListFormatsExt(fixture('formats-uvc-metadata.txt')), []);
  });

  it("reads ffmpeg's -list_formats all", () => {
    const formats = parseFfmpegListFormats(fixture('ffmpeg-list-formats-uvc.txt'));
    assert.deepEqual(
      formats.map((f) => [f.fourcc, f.inputFormat, f.sizes.length]),
      [
        ['YUYV', 'yuyv422', 3],
        ['MJPG', 'mjpeg', 4],
        ['h264', null, 1],
      ],
    );
  });

  it("suggests the camera's own JPEGs, else NV12, at the smallest size of at least 640x480", () => {
    assert.deepEqual(suggestCamera('/dev/video0', parseListFormatsExt(fixture('formats-uvc-c920.txt'))), {
      type: 'v4l2',
      device: '/dev/video0',
      inputFormat: 'mjpeg',
      width: 640,
      height: 480,
      fps: 15,
    });
    assert.deepEqual(suggestCamera('/dev/video11', parseListFormatsExt(fixture('formats-rkisp-mainpath.txt'))), {
      type: 'v4l2',
      device: '/dev/video11',
      inputFormat: 'nv12',
      width: 640,
      height: 480,
      fps: 15,
    });
    assert.equal(suggestCamera('/dev/video1', []), null);
  });

  it('lists a Rock 5B with a UVC webcam through v4l2-ctl, with a camera setting for each', async () => {
    // v4l2-ctl answering as on the board (these texts), first on PATH.
    const bin = join(dir, 'bin');
    const fake = join(bin, 'v4l2-ctl');
    mkdirSync(bin, { recursive: true });
    writeFileSync(
      fake,
      `#!/bin/sh
case "$*" in
  --list-devices) cat ${FIXTURES}/list-devices.txt ;;
  "-d /dev/video0 --list-formats-ext") cat ${FIXTURES}/formats-uvc-c920.txt ;;
  "-d /dev/video11 --list-formats-ext") cat ${FIXTURES}/formats-rkisp-mainpath.txt ;;
  *) cat ${FIXTURES}/formats-uvc-metadata.txt ;;
esac
`,
    );
    chmodSync(fake, 0o755);
    const result = await cli(EDGE_BIN, ['cameras', '--json'], { env: { PATH: `${bin}:${process.env.PATH}` } });
    assert.equal(result.code, 0, result.stderr);
    const listed = JSON.parse(result.stdout) as { v4l2: Array<{ device: string; suggested: { inputFormat: string } }> };
    assert.deepEqual(
      listed.v4l2.map((c) => [c.device, c.suggested.inputFormat]),
      [
        ['/dev/video11', 'nv12'],
        ['/dev/video0', 'mjpeg'],
      ],
    );
    const text = await cli(EDGE_BIN, ['cameras'], { env: { PATH: `${bin}:${process.env.PATH}` } });
    assert.match(text.stdout, /^\/dev\/video0 {2}HD Pro Webcam C920$/m);
    assert.match(text.stdout, /camera: \{type: "v4l2", device: "\/dev\/video0", inputFormat: "mjpeg", width: 640, height: 480, fps: 15\}/);
  });

  it('says so in one line, exit 1, when there is no camera', async () => {
    const result = await cli(EDGE_BIN, ['cameras'], { env: { PATH: '/usr/bin:/bin' } });
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.match(result.stderr.trim(), /^splitoculo-edge: error: no cameras found: no V4L2 capture device \(\/dev\/video\*\) and no libcamera camera; .*$/);
  });
});
