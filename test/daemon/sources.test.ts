// Camera sources: the MJPEG splitter on a real ffmpeg stream, and the
// long-lived child process with restarts (ffmpeg testsrc and a stand-in for rpicam-vid).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import pino from 'pino';
import sharp from 'sharp';
import { MjpegSplitter } from '../../daemon/sources/mjpeg-splitter.ts';
import { StreamSource } from '../../daemon/sources/stream-source.ts';
import { libcameraArgs, v4l2Args } from '../../daemon/sources/create-source.ts';
import { cameraSchema } from '../../daemon/config/schema.ts';
import type { CapturedImage } from '../../daemon/sources/source.ts';
import { FRAMES_DIR, REPO_ROOT } from '../helpers/paths.ts';
import { waitFor } from '../helpers/wait.ts';

const log = pino({ level: 'silent' });
const FAKE_CAMERA = join(REPO_ROOT, 'test', 'fixtures', 'bin', 'fake-rpicam-vid.ts');
const testsrc = execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10', '-frames:v', '6', '-f', 'mjpeg', '-q:v', '5', '-']);

function waitForImage(source: StreamSource, timeoutMs = 10_000): Promise<CapturedImage> {
  return waitFor(() => source.grab(), { timeoutMs, what: 'an image from the stream' });
}

describe('MJPEG splitter', () => {
  it('splits a real ffmpeg MJPEG stream into its frames, however the pipe chunks it', async () => {
    const whole = new MjpegSplitter().push(testsrc);
    assert.equal(whole.length, 6);
    for (const jpeg of whole) assert.equal((await sharp(jpeg).metadata()).width, 320);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 40 }), (cuts) => {
        const splitter = new MjpegSplitter();
        const out: Buffer[] = [];
        let at = 0;
        for (const cut of cuts) {
          out.push(...splitter.push(testsrc.subarray(at, Math.min(at + cut, testsrc.length))));
          at = Math.min(at + cut, testsrc.length);
        }
        out.push(...splitter.push(testsrc.subarray(at)));
        assert.equal(out.length, 6);
        assert.deepEqual(
          out.map((b) => b.length),
          whole.map((b) => b.length),
        );
      }),
      { seed: 3, numRuns: 100 },
    );
  });

  it('skips garbage between frames and keeps an EXIF thumbnail inside its frame', async () => {
    const photo = readFileSync(join(FRAMES_DIR, 'rocket.jpg'));
    const thumb = await sharp(photo).resize(32).jpeg().toBuffer();
    // APP1 segment whose body holds a complete JPEG (with its own EOI), as EXIF thumbnails do.
    const app1 = Buffer.concat([Buffer.from([0xff, 0xe1]), Buffer.alloc(2), Buffer.from('Exif\0\0'), thumb]);
    app1.writeUInt16BE(app1.length - 2, 2);
    const withThumb = Buffer.concat([photo.subarray(0, 2), app1, photo.subarray(2)]);
    const stream = Buffer.concat([Buffer.from('noise'), withThumb, Buffer.from([0x00, 0xff, 0x12]), photo]);
    const frames = new MjpegSplitter().push(stream);
    assert.equal(frames.length, 2);
    assert.equal(frames[0]!.length, withThumb.length);
    assert.equal((await sharp(frames[0]!).metadata()).width, 640);
  });

  it('bounds its memory: an endless frame is discarded and counted', () => {
    const splitter = new MjpegSplitter(10_000);
    const start = Buffer.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x02]);
    assert.deepEqual(splitter.push(start), []);
    for (let i = 0; i < 10; i++) splitter.push(Buffer.alloc(4096, 0x11));
    assert.ok(splitter.bufferedBytes <= 10_000 + 4096, `${splitter.bufferedBytes} bytes buffered`);
    assert.ok(splitter.stats.oversized >= 1);
    const next = splitter.push(testsrc);
    assert.equal(next.length, 6, 'resynchronises on the next frame');
  });
});

describe('streaming camera child', () => {
  it('reads ffmpeg testsrc as one long-lived child and keeps only the newest frame', async () => {
    let replaced = 0;
    const source = new StreamSource({
      name: 'ffmpeg testsrc',
      command: 'ffmpeg',
      log,
      args: ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25', '-f', 'mjpeg', '-q:v', '5', '-'],
      onFrameReplaced: () => replaced++,
    });
    await source.start();
    try {
      const first = await waitForImage(source);
      assert.equal((await sharp(first.bytes).metadata()).height, 240);
      await waitFor(() => replaced >= 3, { what: 'three frames superseded (only the newest is kept)' });
      const newest = await waitForImage(source);
      assert.ok(newest.capturedAt > first.capturedAt);
      assert.ok(replaced >= 3, `${replaced} frames superseded`);
      assert.equal(await source.grab(), null, 'a frame is handed out once');
    } finally {
      await source.stop();
    }
  });

  it('restarts a camera app that exits, with backoff, and one that stalls', async () => {
    const reasons: string[] = [];
    process.env.FAKE_CAMERA_JPEGS = join(FRAMES_DIR, 'rocket.jpg');
    process.env.FAKE_CAMERA_FRAMES = '3';
    const source = new StreamSource({
      name: 'fake rpicam-vid',
      command: process.execPath,
      log,
      args: [FAKE_CAMERA, ...libcameraArgs(cameraSchema.parse({ type: 'libcamera' }) as never)],
      backoffInitialMs: 50,
      backoffMaxMs: 200,
      stallTimeoutMs: 1500,
      onRestart: (reason) => reasons.push(reason),
    });
    await source.start();
    try {
      await waitForImage(source);
      await waitFor(() => reasons.length >= 2, { what: 'two restarts' });
      assert.ok(reasons.length >= 2, `restarts: ${reasons.length}`);
      assert.match(reasons[0]!, /exited with code 1: fake-rpicam-vid: camera unplugged/);
      const image = await waitForImage(source);
      assert.equal((await sharp(image.bytes).metadata()).width, 640);
    } finally {
      await source.stop();
      delete process.env.FAKE_CAMERA_FRAMES;
    }

    process.env.FAKE_CAMERA_STALL = '1';
    const stalled: string[] = [];
    const stalling = new StreamSource({
      name: 'stalling camera',
      command: process.execPath,
      log,
      args: [FAKE_CAMERA, '--codec', 'mjpeg', '--timeout', '0', '--output', '-'],
      backoffInitialMs: 50,
      stallTimeoutMs: 600,
      onRestart: (reason) => stalled.push(reason),
    });
    await stalling.start();
    try {
      await waitFor(() => stalled.length >= 1, { what: 'a restart of the stalled camera' });
      assert.match(stalled[0] ?? '', /SIGKILL/);
    } finally {
      await stalling.stop();
      delete process.env.FAKE_CAMERA_STALL;
      delete process.env.FAKE_CAMERA_JPEGS;
    }
  });

  it('builds camera app arguments without a shell', () => {
    const lib = libcameraArgs(cameraSchema.parse({ type: 'libcamera', width: 1280, height: 720, fps: 5, options: { hflip: true, vflip: false, awb: 'indoor' } }) as never);
    assert.deepEqual(lib, [
      '--hflip',
      '--awb',
      'indoor',
      '--codec',
      'mjpeg',
      '--timeout',
      '0',
      '--output',
      '-',
      '--nopreview',
      '--width',
      '1280',
      '--height',
      '720',
      '--framerate',
      '5',
      '--camera',
      '0',
    ]);
    const v4l2 = v4l2Args(cameraSchema.parse({ type: 'v4l2', device: '/dev/video2', inputFormat: 'mjpeg' }) as never);
    assert.deepEqual(v4l2.slice(v4l2.indexOf('-i'), v4l2.indexOf('-i') + 2), ['-i', '/dev/video2']);
    // Issue 17: an MJPEG camera's JPEGs are copied, no longer re-encoded at -q:v 4 (test/daemon/camera-paths.test.ts).
    assert.deepEqual(v4l2.slice(-5), ['-c:v', 'copy', '-f', 'mjpeg', '-']);
    assert.ok(v4l2.includes('-input_format'));
  });
});
