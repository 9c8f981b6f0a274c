/**
 * What V4L2 cameras a board has, from `v4l2-ctl --list-devices` and
 * `v4l2-ctl -d DEV --list-formats-ext` (Debian's v4l-utils), or, without it,
 * ffmpeg's `-f v4l2 -list_formats all`. Parsers of those texts, and the
 * camera setting a device suggests (cameras-command.ts prints it).
 */
export interface V4l2Size {
  width: number;
  height: number;
  /** Frame rates offered at this size (empty for stepwise sizes). */
  fps: number[];
}

export interface V4l2Format {
  /** The driver's four-character code (MJPG, YUYV, NV12, ...). */
  fourcc: string;
  /** ffmpeg's name for it, as `camera.inputFormat` takes it; null when the daemon cannot read it (H264, ...). */
  inputFormat: string | null;
  description: string;
  sizes: V4l2Size[];
  /** Stepwise/continuous drivers (rkisp): the range instead of a list. */
  range?: { minWidth: number; minHeight: number; maxWidth: number; maxHeight: number };
}

export interface V4l2Device {
  /** The card's name, e.g. "rkisp_mainpath" or "HD Pro Webcam C920". */
  name: string;
  bus: string;
  nodes: string[];
}

const FFMPEG_NAMES: Record<string, string> = {
  MJPG: 'mjpeg',
  JPEG: 'mjpeg',
  YUYV: 'yuyv422',
  UYVY: 'uyvy422',
  NV12: 'nv12',
  NV21: 'nv21',
  NV16: 'nv16',
  YU12: 'yuv420p',
  YV12: 'yuv420p',
  RGB3: 'rgb24',
  BGR3: 'bgr24',
  GREY: 'gray',
};
/** ffmpeg's name -> the usual four-character code (the first listed wins: mjpeg is MJPG). */
const FROM_FFMPEG: Record<string, string> = Object.fromEntries(
  Object.entries(FFMPEG_NAMES)
    .reverse()
    .map(([fourcc, name]) => [name, fourcc]),
);

/** `v4l2-ctl --list-devices`: a card line "name (bus):" then its nodes, indented. */
export function parseListDevices(text: string): V4l2Device[] {
  const devices: V4l2Device[] = [];
  for (const line of text.split('\n')) {
    const card = /^(\S.*?)\s*\(([^()]*)\):\s*$/.exec(line);
    if (card) devices.push({ name: card[1]!, bus: card[2]!, nodes: [] });
    else if (/^\s+\/dev\//.test(line) && devices.length) devices[devices.length - 1]!.nodes.push(line.trim());
  }
  return devices;
}

/** `v4l2-ctl -d DEV --list-formats-ext`. */
export function parseListFormatsExt(text: string): V4l2Format[] {
  const formats: V4l2Format[] = [];
  for (const line of text.split('\n')) {
    const format = /^\s*\[\d+\]:\s*'(.{4})'\s*\((.*)\)\s*$/.exec(line);
    if (format) {
      const fourcc = format[1]!.trim();
      formats.push({ fourcc, inputFormat: FFMPEG_NAMES[fourcc] ?? null, description: format[2]!.replace(/, compressed$/, ''), sizes: [] });
      continue;
    }
    const current = formats[formats.length - 1];
    if (!current) continue;
    const discrete = /^\s*Size: Discrete (\d+)x(\d+)/.exec(line);
    if (discrete) {
      current.sizes.push({ width: Number(discrete[1]), height: Number(discrete[2]), fps: [] });
      continue;
    }
    const stepwise = /^\s*Size: (?:Stepwise|Continuous) (\d+)x(\d+) - (\d+)x(\d+)/.exec(line);
    if (stepwise) {
      const [minWidth, minHeight, maxWidth, maxHeight] = stepwise.slice(1, 5).map(Number) as [number, number, number, number];
      current.range = { minWidth, minHeight, maxWidth, maxHeight };
      continue;
    }
    const interval = /^\s*Interval: Discrete [\d.]+s \(([\d.]+) fps\)/.exec(line);
    const size = current.sizes[current.sizes.length - 1];
    if (interval && size) size.fps.push(Number(interval[1]));
  }
  return formats;
}

/** ffmpeg's `-f v4l2 -list_formats all -i DEV` (on stderr): "Compressed: mjpeg : Motion-JPEG : 1920x1080 1280x720". */
export function parseFfmpegListFormats(text: string): V4l2Format[] {
  const formats: V4l2Format[] = [];
  for (const line of text.split('\n')) {
    const match = /(Raw|Compressed)\s*:\s*(\S+)\s*:\s*([^:]+?)\s*:\s*(.*)$/.exec(line);
    if (!match) continue;
    const name = match[2]!;
    const sizes: V4l2Size[] = [];
    let range: V4l2Format['range'];
    const step = /\{(\d+)-(\d+), \d+\}x\{(\d+)-(\d+), \d+\}/.exec(match[4]!);
    if (step) range = { minWidth: Number(step[1]), maxWidth: Number(step[2]), minHeight: Number(step[3]), maxHeight: Number(step[4]) };
    else for (const size of match[4]!.matchAll(/(\d+)x(\d+)/g)) sizes.push({ width: Number(size[1]), height: Number(size[2]), fps: [] });
    const known = name in FROM_FFMPEG;
    formats.push({ fourcc: FROM_FFMPEG[name] ?? name, inputFormat: known ? name : null, description: match[3]!, sizes, ...(range && { range }) });
  }
  return formats;
}

/**
 * The camera setting to start from: the camera's own JPEGs when it makes
 * them (no conversion at all), else NV12 (the rkisp nodes' native format),
 * YUYV, or the first raw format the daemon reads;
 * the smallest size of at least 640x480 (the model sees 224x224; more pixels
 * only cost decoding), else the largest offered.
 */
export function suggestCamera(device: string, formats: readonly V4l2Format[]): { type: 'v4l2'; device: string; inputFormat: string; width: number; height: number; fps: number } | null {
  const usable = formats.filter((f) => f.inputFormat !== null && (f.sizes.length > 0 || f.range));
  const format = ['mjpeg', 'nv12', 'yuyv422'].map((name) => usable.find((f) => f.inputFormat === name)).find(Boolean) ?? usable[0];
  if (!format) return null;
  let size: { width: number; height: number; fps: number[] };
  if (format.sizes.length) {
    const sorted = [...format.sizes].sort((a, b) => a.width * a.height - b.width * b.height);
    size = sorted.find((s) => s.width >= 640 && s.height >= 480) ?? sorted[sorted.length - 1]!;
  } else {
    const r = format.range!;
    size = { width: Math.min(Math.max(640, r.minWidth), r.maxWidth), height: Math.min(Math.max(480, r.minHeight), r.maxHeight), fps: [] };
  }
  const fps = size.fps.length ? Math.min(15, Math.max(...size.fps)) : 15;
  return { type: 'v4l2', device, inputFormat: format.inputFormat!, width: size.width, height: size.height, fps };
}
