/** Builds the configured camera source. */
import { spawnSync } from 'node:child_process';
import type { Logger } from 'pino';
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

export function libcameraArgs(camera: Extract<CameraConfig, { type: 'libcamera' }>): string[] {
  return [
    '--codec', 'mjpeg', '-t', '0', '-o', '-', '--nopreview',
    '--camera', String(camera.camera),
    '--width', String(camera.width), '--height', String(camera.height),
    '--framerate', String(camera.fps),
    ...camera.extraArgs,
  ];
}

export function v4l2Args(camera: Extract<CameraConfig, { type: 'v4l2' }>): string[] {
  return [
    '-hide_banner', '-loglevel', 'error', '-nostdin',
    '-f', 'v4l2', ...(camera.inputFormat ? ['-input_format', camera.inputFormat] : []),
    '-video_size', `${camera.width}x${camera.height}`, '-framerate', String(camera.fps),
    ...camera.extraArgs,
    '-i', camera.device,
    '-f', 'mjpeg', '-q:v', '4', '-',
  ];
}

export function createSource(camera: CameraConfig, log: Logger, hooks: SourceHooks = {}): FrameSource {
  switch (camera.type) {
    case 'directory':
      return new DirectorySource(camera.path, camera.loop);
    case 'file':
      return new FileSource(camera.path);
    case 'v4l2':
      return new StreamSource({ name: `v4l2 ${camera.device}`, command: camera.ffmpeg, args: v4l2Args(camera), log, ...hooks });
    case 'libcamera': {
      const command = camera.command ?? findCameraApp();
      return new StreamSource({ name: `libcamera ${command}`, command, args: libcameraArgs(camera), log, ...hooks });
    }
  }
}
