/** Builds the configured camera source. */
import { spawnSync } from 'node:child_process';
import type { Logger } from 'pino';
import type { LibCamera } from 'node-libcamera/dist/LibCamera.js';
import type { CameraConfig } from '../config/schema.ts';
import { DirectorySource, FileSource } from './directory-source.ts';
import type { FrameSource } from './source.ts';
import { StreamSource } from './stream-source.ts';

export interface SourceHooks {
  onRestart?: (reason: string) => void;
  onFrameReplaced?: () => void;
}

/** rpicam-vid on current Raspberry Pi OS, libcamera-vid on older images and other boards. */
export function findCameraApp(): string {
  for (const candidate of ['rpicam-vid', 'libcamera-vid']) {
    if (spawnSync(candidate, ['--version'], { stdio: 'ignore' }).error === undefined) return candidate;
  }
  return 'rpicam-vid';
}

/**
 * Arguments for one long-lived `rpicam-vid` streaming MJPEG to stdout. The
 * options are typed by node-libcamera's VideoOptions; its own runner is not
 * used because it builds a shell command line for one process per capture.
 */
export function libcameraArgs(camera: Extract<CameraConfig, { type: 'libcamera' }>): string[] {
  const options: Partial<LibCamera.VideoOptionsObject> = {
    ...(camera.options as Partial<LibCamera.VideoOptionsObject>),
    codec: 'mjpeg',
    timeout: 0,
    output: '-',
    nopreview: true,
    width: camera.width,
    height: camera.height,
  };
  const args: string[] = [];
  for (const [key, value] of Object.entries(options)) {
    if (value === false || value === undefined || value === null) continue;
    args.push(`--${key}`);
    if (value !== true) args.push(String(value));
  }
  // Newer than node-libcamera's typings: rpicam-apps' frame rate and camera index.
  args.push('--framerate', String(camera.fps), '--camera', String(camera.camera));
  return [...args, ...camera.extraArgs];
}

type V4l2Camera = Extract<CameraConfig, { type: 'v4l2' }>;

/** V4L2 formats that already are JPEGs (UVC webcams' MJPG): passed through as the camera made them. */
const JPEG_FORMATS = new Set(['mjpeg', 'mjpg', 'jpeg']);

/** What ffmpeg hands the daemon for this camera: the camera's own JPEGs, or RGB pixels. */
export function v4l2Delivery(camera: V4l2Camera): 'jpeg' | 'rgb' {
  return camera.inputFormat !== undefined && JPEG_FORMATS.has(camera.inputFormat.toLowerCase()) ? 'jpeg' : 'rgb';
}

/**
 * ffmpeg's output side for a camera. MJPEG: `-c:v copy`, the JPEGs untouched
 * (no second lossy compression, no decode in ffmpeg). Anything else (YUYV,
 * NV12 from the Rock 5B's rkisp nodes, or the driver's default): converted
 * once to RGB at the configured size and written raw, so the daemon gets
 * pixels with no JPEG round trip (the size is forced, so frames can be cut
 * by counting bytes even if the driver picked another).
 */
export function v4l2OutputArgs(camera: V4l2Camera): string[] {
  if (v4l2Delivery(camera) === 'jpeg') return ['-c:v', 'copy', '-f', 'mjpeg', '-'];
  return ['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${camera.width}x${camera.height}`, '-'];
}

export function v4l2Args(camera: V4l2Camera): string[] {
  return [
    '-hide_banner',
    '-loglevel',
    'error',
    '-nostdin',
    '-f',
    'v4l2',
    ...(camera.inputFormat ? ['-input_format', camera.inputFormat] : []),
    '-video_size',
    `${camera.width}x${camera.height}`,
    '-framerate',
    String(camera.fps),
    ...camera.extraArgs,
    '-i',
    camera.device,
    ...v4l2OutputArgs(camera),
  ];
}

export function createSource(camera: CameraConfig, log: Logger, hooks: SourceHooks = {}): FrameSource {
  switch (camera.type) {
    case 'directory':
      return new DirectorySource(camera.path, camera.loop);
    case 'file':
      return new FileSource(camera.path);
    case 'v4l2':
      return new StreamSource({
        name: `v4l2 ${camera.device}`,
        command: camera.ffmpeg,
        args: v4l2Args(camera),
        log,
        ...hooks,
        ...(v4l2Delivery(camera) === 'rgb' && { raw: { width: camera.width, height: camera.height } }),
      });
    case 'libcamera': {
      const command = camera.command ?? findCameraApp();
      return new StreamSource({ name: `libcamera ${command}`, command, args: libcameraArgs(camera), log, ...hooks });
    }
  }
}
