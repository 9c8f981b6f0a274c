/**
 * `splitoculo-edge cameras`: the cameras this machine has, with their formats
 * and sizes, and a `camera:` setting for each that the daemon can read. V4L2
 * through v4l2-ctl (Debian's v4l-utils), else ffmpeg's format list for each
 * /dev/video*; libcamera cameras through rpicam-hello where rpicam-apps is
 * installed (Raspberry Pi). None at all is one line and exit 1.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import type { Command } from 'commander';
import { UserError } from '../../protocol/errors.ts';
import { parseFfmpegListFormats, parseListDevices, parseListFormatsExt, suggestCamera, type V4l2Format } from '../sources/v4l2-formats.ts';

export class NoCameraError extends UserError {
  override readonly name = 'NoCameraError';
}

export interface FoundCamera {
  device: string;
  name: string;
  formats: V4l2Format[];
  suggested: ReturnType<typeof suggestCamera>;
}

/** stdout and stderr of a tool, or null when it is not installed. */
function tool(command: string, args: string[]): { stdout: string; stderr: string; status: number | null } | null {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000 });
  if (result.error) return null;
  return { stdout: result.stdout, stderr: result.stderr, status: result.status };
}

export function findV4l2Cameras(devDir = '/dev'): FoundCamera[] {
  const found: FoundCamera[] = [];
  const listed = tool('v4l2-ctl', ['--list-devices']);
  if (listed) {
    for (const card of parseListDevices(listed.stdout)) {
      for (const device of card.nodes.filter((n) => /\/video\d+$/.test(n))) {
        const formats = parseListFormatsExt(tool('v4l2-ctl', ['-d', device, '--list-formats-ext'])?.stdout ?? '');
        // Metadata and output nodes list no capture formats: not cameras.
        if (formats.length) found.push({ device, name: card.name, formats, suggested: suggestCamera(device, formats) });
      }
    }
    return found;
  }
  let nodes: string[] = [];
  try {
    nodes = readdirSync(devDir)
      .filter((n) => /^video\d+$/.test(n))
      .map((n) => `${devDir}/${n}`);
  } catch {
    // No such folder: no cameras.
  }
  for (const device of nodes) {
    const out = tool('ffmpeg', ['-hide_banner', '-nostdin', '-f', 'v4l2', '-list_formats', 'all', '-i', device]);
    const formats = parseFfmpegListFormats(out?.stderr ?? '');
    if (formats.length) found.push({ device, name: '', formats, suggested: suggestCamera(device, formats) });
  }
  return found;
}

function describeFormat(format: V4l2Format): string {
  const sizes = format.sizes.map((s) => `${s.width}x${s.height}${s.fps.length ? `@${Math.max(...s.fps)}` : ''}`).join(' ');
  const range = format.range ? `${format.range.minWidth}x${format.range.minHeight} to ${format.range.maxWidth}x${format.range.maxHeight}` : '';
  const readable = format.inputFormat ? `inputFormat: ${format.inputFormat}` : 'not readable by the daemon';
  return `    ${format.fourcc} (${format.description}; ${readable}): ${sizes || range}`;
}

export function registerCameras(program: Command): void {
  program
    .command('cameras')
    .description('list the cameras (V4L2 devices with formats and sizes; libcamera where rpicam-apps is installed) and a camera setting for each')
    .option('--json', 'machine-readable')
    .action((flags: { json?: boolean }) => {
      const v4l2 = findV4l2Cameras();
      const libcamera = tool('rpicam-hello', ['--list-cameras']) ?? tool('libcamera-hello', ['--list-cameras']);
      const libcameraText = libcamera && /^\s*\d+\s*:/m.test(libcamera.stdout) ? libcamera.stdout.trim() : '';
      if (flags.json) {
        console.log(JSON.stringify({ v4l2, libcamera: libcameraText || null }, null, 2));
        if (v4l2.length || libcameraText) return;
      }
      if (!v4l2.length && !libcameraText) {
        throw new NoCameraError('no cameras found: no V4L2 capture device (/dev/video*) and no libcamera camera; plug in a UVC webcam or check the camera driver (dmesg)');
      }
      for (const camera of v4l2) {
        console.log(`${camera.device}${camera.name ? `  ${camera.name}` : ''}`);
        for (const format of camera.formats) console.log(describeFormat(format));
        if (camera.suggested)
          console.log(
            `  camera: ${JSON.stringify(camera.suggested)
              .replace(/"(\w+)":/g, '$1: ')
              .replace(/,/g, ', ')}`,
          );
      }
      if (libcameraText) console.log(`libcamera (camera.type: libcamera):\n${libcameraText}`);
    });
}
