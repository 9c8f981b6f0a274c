// Camera paths without transcoding (issue 17, item 3): an MJPEG camera's JPEGs
// reach the daemon byte for byte as the camera made them; a raw camera's
// frames (NV12 from the Rock 5B's rkisp nodes, YUYV from webcams) reach it as
// RGB pixels with no JPEG in between, and preprocess exactly as PIL does on
// the same RGB; `check` names the camera's own error.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import sharp from 'sharp';
import { cameraSchema } from '../../daemon/config/schema.ts';
import { makePreview } from '../../daemon/parts/preview.ts';
import { cropRawRgb } from '../../daemon/pipeline/preprocess.ts';
import { v4l2Args, v4l2Delivery, v4l2OutputArgs } from '../../daemon/sources/create-source.ts';
import { MjpegSplitter } from '../../daemon/sources/mjpeg-splitter.ts';
import { RawFrameSplitter } from '../../daemon/sources/raw-frame-splitter.ts';
import type { CapturedImage } from '../../daemon/sources/source.ts';
import { StreamSource } from '../../daemon/sources/stream-source.ts';
import { createLogger } from '../../runtime/logger.ts';
import { cli, EDGE_BIN } from '../helpers/cli.ts';
import { FRAMES_DIR, REPO_ROOT, TINY_MODEL_DIR } from '../helpers/paths.ts';
import { waitFor } from '../helpers/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'splitoculo-camera-paths-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const v4l2 = (fields: Record<string, unknown>) => cameraSchema.parse({ type: 'v4l2', ...fields }) as Extract<ReturnType<typeof cameraSchema.parse>, { type: 'v4l2' }>;
const ffmpeg = (args: string[]) => execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], { maxBuffer: 1 << 28 });
const SEED_PREPROCESS = {
  colorSpace: 'srgb',
  resize: { shortSide: 224, kernel: 'bicubic' },
  crop: { mode: 'center', width: 224, height: 224 },
  scale: 1 / 255,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  layout: 'nchw',
} as const;

describe('camera paths', () => {
  it('chooses pass-through for MJPEG cameras and RGB pixels for every other format', () => {
    for (const format of ['mjpeg', 'MJPG']) {
      assert.equal(v4l2Delivery(v4l2({ inputFormat: format })), 'jpeg');
      assert.deepEqual(v4l2OutputArgs(v4l2({ inputFormat: format })), ['-c:v', 'copy', '-f', 'mjpeg', '-']);
    }
    for (const format of ['nv12', 'yuyv422', undefined]) {
      const camera = v4l2({ ...(format && { inputFormat: format }), width: 1920, height: 1080 });
      assert.equal(v4l2Delivery(camera), 'rgb');
      const args = v4l2Args(camera);
      assert.deepEqual(args.slice(args.indexOf('-i') + 2), ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', '1920x1080', '-']);
      assert.ok(!args.includes('-q:v'), 'no JPEG encode anywhere');
    }
  });

  it("passes an MJPEG camera's JPEGs through byte for byte", () => {
    const stream = join(dir, 'camera.mjpeg');
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=640x480:rate=10', '-frames:v', '6', '-f', 'mjpeg', '-q:v', '5', stream]);
    const made = readFileSync(stream);
    // The same output arguments the daemon gives ffmpeg, with the file standing in for /dev/videoN.
    const out = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-f', 'mjpeg', '-i', stream, ...v4l2OutputArgs(v4l2({ inputFormat: 'mjpeg' }))], { maxBuffer: 1 << 28 });
    assert.equal(out.status, 0, out.stderr.toString());
    const camera = new MjpegSplitter().push(made);
    const delivered = new MjpegSplitter().push(out.stdout);
    assert.equal(camera.length, 6);
    assert.deepEqual(
      delivered.map((b) => b.toString('base64')),
      camera.map((b) => b.toString('base64')),
    );
  });

  for (const pixFmt of ['nv12', 'yuyv422']) {
    it(`turns ${pixFmt} frames into RGB with no JPEG between, preprocessed exactly as PIL on the same RGB`, async () => {
      const width = 640;
      const height = 480;
      const sample = join(FRAMES_DIR, 'chelsea.png');
      const rawFile = join(dir, `camera.${pixFmt}`);
      // Two camera frames in the sensor's own format.
      ffmpeg(['-loop', '1', '-i', sample, '-frames:v', '2', '-vf', `scale=${width}:${height}`, '-f', 'rawvideo', '-pix_fmt', pixFmt, rawFile]);
      const camera = v4l2({ inputFormat: pixFmt, width, height });
      const args = [
        '-hide_banner',
        '-loglevel',
        'error',
        '-nostdin',
        '-re',
        '-stream_loop',
        '-1',
        '-f',
        'rawvideo',
        '-pix_fmt',
        pixFmt,
        '-s',
        `${width}x${height}`,
        '-i',
        rawFile,
        ...v4l2OutputArgs(camera),
      ];
      const source = new StreamSource({ name: `test ${pixFmt}`, command: 'ffmpeg', args, log: createLogger('silent'), raw: { width, height } });
      await source.start();
      let image: CapturedImage;
      try {
        image = await waitFor(() => source.grab(), { what: `a ${pixFmt} frame`, timeoutMs: 20_000 });
      } finally {
        await source.stop();
      }
      assert.deepEqual(image.raw, { width, height });
      assert.equal(image.bytes.length, width * height * 3);
      const ours = cropRawRgb({ rgb: image.bytes, width, height }, SEED_PREPROCESS as never, image.label).rgb;
      // PIL gets the very same RGB, losslessly as a PNG.
      const png = join(dir, `${pixFmt}.png`);
      await sharp(image.bytes, { raw: { width, height, channels: 3 } })
        .png()
        .toFile(png);
      const out = join(dir, `pil-${pixFmt}`);
      mkdirSync(out);
      execFileSync('/usr/bin/python3', [join(REPO_ROOT, 'test/fixtures/pil_preprocess.py'), out, png], { stdio: 'pipe' });
      const pil = readFileSync(join(out, `${pixFmt}.png.rgb`));
      let worst = 0;
      for (let i = 0; i < pil.length; i++) worst = Math.max(worst, Math.abs(pil[i]! - ours[i]!));
      assert.equal(ours.length, pil.length);
      assert.equal(worst, 0, `worst pixel differs by ${worst} grey levels`);
      // The preview thumbnail of a raw frame: sharp told the pixels' size.
      const preview = await makePreview(image.bytes, image.raw);
      assert.equal((await sharp(preview!).metadata()).format, 'jpeg');
    });
  }

  it('refuses raw bytes of the wrong size in one line naming the frame', () => {
    assert.throws(
      () => cropRawRgb({ rgb: Buffer.alloc(10), width: 640, height: 480 }, SEED_PREPROCESS as never, 'v4l2 frame 3'),
      /^ImageError: v4l2 frame 3: 10 bytes of raw RGB, expected 640x480x3 = 921600$/,
    );
  });

  it('reuses a superseded raw frame instead of allocating another', () => {
    const splitter = new RawFrameSplitter(4, 2);
    const [first] = splitter.push(Buffer.alloc(24, 1));
    splitter.recycle(first!); // replaced before anyone took it
    const [second, third] = splitter.push(Buffer.alloc(48, 2));
    assert.notEqual(second, first, 'the frame filling when it was recycled');
    assert.equal(third, first, 'the same memory, filled again');
    assert.deepEqual([...third!], new Array(24).fill(2));
    assert.deepEqual(splitter.push(Buffer.alloc(30, 3)).length, 1);
    assert.equal(splitter.bufferedBytes, 6);
  });

  it("check names the camera's own error", async () => {
    const config = join(dir, 'check.json');
    writeFileSync(
      config,
      JSON.stringify({
        device: { id: 'cam' },
        model: { path: TINY_MODEL_DIR },
        outbox: { path: join(dir, 'check', 'outbox.db') },
        camera: { type: 'v4l2', device: join(dir, 'no-such-video9'), inputFormat: 'nv12' },
        mqtt: { url: 'mqtt://127.0.0.1:1' },
      }),
    );
    const result = await cli(EDGE_BIN, ['check', '-c', config, '--timeout', '3000']);
    assert.equal(result.code, 1);
    const line = `${result.stdout}\n${result.stderr}`.split('\n').find((l) => l.includes('no-such-video9'));
    assert.ok(line, `no camera line in: ${result.stdout}${result.stderr}`);
    assert.match(line, /no image within 3000 ms; the camera exited with code \d+: .*no-such-video9.*No such file or directory/);
  });
});
