/**
 * What each camera path costs per frame, from the camera's bytes to the
 * 224x224 crop the model sees, as ratios within one run:
 * - MJPEG camera: ffmpeg copying the JPEGs (`-c:v copy`, the daemon's path)
 *   then sharp decoding them, against the path before issue 17: ffmpeg
 *   decoding and re-encoding each JPEG (`-f mjpeg -q:v 4`), then sharp decoding that.
 * - raw camera (NV12, YUYV): ffmpeg converting to RGB (`-f rawvideo -pix_fmt
 *   rgb24`) and the Pillow-exact resize straight on the pixels, against the
 *   JPEG round trip (ffmpeg encoding, sharp decoding).
 * ffmpeg's CPU time comes from its own `-benchmark` line (user + system), the
 * daemon's side from the clock around cropToRgb / cropRawRgb on this thread.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cameraSchema } from '../../daemon/config/schema.ts';
import { cropRawRgb, cropToRgb } from '../../daemon/pipeline/preprocess.ts';
import { v4l2OutputArgs } from '../../daemon/sources/create-source.ts';
import { MjpegSplitter } from '../../daemon/sources/mjpeg-splitter.ts';
import type { Manifest } from '../../protocol/manifest/schema.ts';

export interface CameraPathCost {
  camera: string;
  path: string;
  reference: string;
  /** Per frame, ms: ffmpeg's CPU and the daemon's preprocessing. */
  ffmpegMs: number;
  daemonMs: number;
  referenceFfmpegMs: number;
  referenceDaemonMs: number;
  /** (ffmpeg + daemon) of the path over that of the reference. */
  ratio: number;
}

function ffmpegCpuMs(args: string[], frames: number): { ms: number; stdout: Buffer } {
  const run = spawnSync('ffmpeg', ['-hide_banner', '-nostdin', '-benchmark', ...args], { maxBuffer: 1 << 30 });
  if (run.status !== 0) throw new Error(`ffmpeg ${args.join(' ')}: ${run.stderr.toString().slice(-300)}`);
  const bench = /utime=([\d.]+)s stime=([\d.]+)s/.exec(run.stderr.toString());
  return { ms: bench ? ((Number(bench[1]) + Number(bench[2])) * 1000) / frames : Number.NaN, stdout: run.stdout };
}

async function daemonMs(run: (i: number) => unknown, frames: number): Promise<number> {
  await run(0); // warm-up
  const started = performance.now();
  for (let i = 0; i < frames; i++) await run(i);
  return (performance.now() - started) / frames;
}

export async function cameraPathCosts(o: { preprocess: Manifest['preprocess']; frames: number; width: number; height: number }): Promise<CameraPathCost[]> {
  const { width, height, frames } = o;
  const dir = mkdtempSync(join(tmpdir(), 'splitoculo-camera-bench-'));
  const size = `${width}x${height}`;
  const v4l2 = (inputFormat: string) => cameraSchema.parse({ type: 'v4l2', inputFormat, width, height }) as Extract<ReturnType<typeof cameraSchema.parse>, { type: 'v4l2' }>;
  try {
    const costs: CameraPathCost[] = [];
    // A camera's MJPEG stream (as a UVC webcam sends it, quality 85-ish) and its raw frames, made once.
    const mjpeg = join(dir, 'camera.mjpeg');
    const source = ['-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=10`, '-frames:v', String(frames)];
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', ...source, '-f', 'mjpeg', '-q:v', '3', mjpeg]);
    const copy = ffmpegCpuMs(['-f', 'mjpeg', '-i', mjpeg, ...v4l2OutputArgs(v4l2('mjpeg'))], frames);
    const transcode = ffmpegCpuMs(['-f', 'mjpeg', '-i', mjpeg, '-f', 'mjpeg', '-q:v', '4', '-'], frames);
    const copied = new MjpegSplitter().push(copy.stdout);
    const transcoded = new MjpegSplitter().push(transcode.stdout);
    const copyDaemon = await daemonMs((i) => cropToRgb(copied[i % copied.length]!, o.preprocess), frames);
    const transcodeDaemon = await daemonMs((i) => cropToRgb(transcoded[i % transcoded.length]!, o.preprocess), frames);
    costs.push({
      camera: `MJPEG ${size}`,
      path: 'JPEGs copied (-c:v copy), sharp decodes',
      reference: 'decoded and re-encoded by ffmpeg (-q:v 4), sharp decodes',
      ffmpegMs: copy.ms,
      daemonMs: copyDaemon,
      referenceFfmpegMs: transcode.ms,
      referenceDaemonMs: transcodeDaemon,
      ratio: (copy.ms + copyDaemon) / (transcode.ms + transcodeDaemon),
    });
    for (const pixFmt of ['nv12', 'yuyv422']) {
      const raw = join(dir, `camera.${pixFmt}`);
      execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', ...source, '-f', 'rawvideo', '-pix_fmt', pixFmt, raw]);
      const input = ['-f', 'rawvideo', '-pix_fmt', pixFmt, '-s', size, '-i', raw];
      const rgb = ffmpegCpuMs([...input, ...v4l2OutputArgs(v4l2(pixFmt))], frames);
      const jpeg = ffmpegCpuMs([...input, '-f', 'mjpeg', '-q:v', '4', '-'], frames);
      const frameBytes = width * height * 3;
      const rgbFrames = Array.from({ length: Math.floor(rgb.stdout.length / frameBytes) }, (_, i) => rgb.stdout.subarray(i * frameBytes, (i + 1) * frameBytes));
      const jpegs = new MjpegSplitter().push(jpeg.stdout);
      const rgbDaemon = await daemonMs((i) => cropRawRgb({ rgb: rgbFrames[i % rgbFrames.length]!, width, height }, o.preprocess), frames);
      const jpegDaemon = await daemonMs((i) => cropToRgb(jpegs[i % jpegs.length]!, o.preprocess), frames);
      costs.push({
        camera: `${pixFmt.toUpperCase()} ${size}`,
        path: 'RGB pixels (rawvideo rgb24), Pillow-exact resize on them',
        reference: 'JPEG round trip (ffmpeg -q:v 4, sharp decodes)',
        ffmpegMs: rgb.ms,
        daemonMs: rgbDaemon,
        referenceFfmpegMs: jpeg.ms,
        referenceDaemonMs: jpegDaemon,
        ratio: (rgb.ms + rgbDaemon) / (jpeg.ms + jpegDaemon),
      });
    }
    return costs;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const manifest = JSON.parse(readFileSync(join(process.argv[2] ?? 'models/tiny', 'manifest.json'), 'utf8')) as Manifest;
  console.log(JSON.stringify(await cameraPathCosts({ preprocess: manifest.preprocess, frames: Number(process.argv[3] ?? 30), width: 1280, height: 720 }), null, 1));
}
