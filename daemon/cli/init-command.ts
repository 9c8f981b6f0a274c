/**
 * `splitoculo-edge init`: writes a configuration that works on this board
 * once it names the broker. It is the example configuration (comments kept:
 * the YAML document is edited, not re-serialised from values) with
 * `camera:` set from the cameras `splitoculo-edge cameras` finds, `mqtt.url`
 * from --broker and `device.id` from the host name. The result is validated
 * by the schema `check` and `run` use before anything is written, written
 * to a temporary sibling with mode 0640 and moved into place, and never
 * over an existing file without --force. No camera found is not an error:
 * the example's camera is kept and one line on stderr says so.
 */
import { closeSync, existsSync, fchmodSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { isScalar, parseDocument, type Scalar, stringify } from 'yaml';
import { UserError } from '../../protocol/errors.ts';
import { defaultDeviceId } from '../../runtime/defaults.ts';
import { redactSecrets } from '../../runtime/printable.ts';
import { embeddedText, isSingleBinary } from '../../runtime/sea.ts';
import { validateConfig } from '../config/load.ts';
import { findV4l2Cameras, type FoundCamera } from './cameras-command.ts';

export class InitError extends UserError {
  override readonly name = 'InitError';
}

export const DEFAULT_OUT = '/etc/splitoculo/edge.yaml';

/** The example configuration this program was built with (embedded in the single binary). */
export function exampleConfigText(): string {
  if (isSingleBinary()) return embeddedText('config/example.yaml');
  return readFileSync(new URL('../config/example.yaml', import.meta.url), 'utf8');
}

/** The same order as suggestCamera's formats: the camera's own JPEGs, then NV12 (rkisp), then YUYV, then anything readable. */
const FORMAT_RANK = ['mjpeg', 'nv12', 'yuyv422'];
function rank(camera: FoundCamera): number {
  const format = FORMAT_RANK.indexOf(camera.suggested!.inputFormat);
  // Among the rkisp nodes the main path is the full-resolution output (the self path is a preview).
  return (format < 0 ? FORMAT_RANK.length : format) * 2 + (/mainpath/i.test(camera.name) ? 0 : 1);
}

/**
 * The camera to write: `device` when named (it must be one found, with a
 * format the daemon reads), else the best by FORMAT_RANK, the first listed
 * on a tie; null when none is usable.
 */
export function chooseCamera(found: readonly FoundCamera[], device: string): FoundCamera | null {
  const usable = found.filter((c) => c.suggested);
  if (device !== 'auto') {
    const named = found.find((c) => c.device === device);
    if (!named) throw new InitError(`--camera ${device}: not among the cameras found (${found.map((c) => c.device).join(', ') || 'none'}); see splitoculo-edge cameras`);
    if (!named.suggested) throw new InitError(`--camera ${device}: offers no format the daemon reads (${named.formats.map((f) => f.fourcc).join(', ')})`);
    return named;
  }
  return usable.reduce<FoundCamera | null>((best, c) => (best === null || rank(c) < rank(best) ? c : best), null);
}

/** Writes `text` as `path` with mode 0640: a temporary sibling, synced, then moved (or, without `force`, linked: fails if `path` exists). */
function writeAtomically(path: string, text: string, force: boolean): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
  const temporary = `${path}.init-${process.pid}.tmp`;
  const fd = openSync(temporary, 'wx', 0o640);
  try {
    fchmodSync(fd, 0o640); // exactly 0640 whatever the umask
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    if (force) renameSync(temporary, path);
    else linkSync(temporary, path); // atomic no-clobber: EEXIST if someone wrote it meanwhile
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new InitError(`${path}: already exists; not overwritten (--force to replace it)`);
    throw error;
  } finally {
    rmSync(temporary, { force: true });
  }
  const dir = openSync(dirname(path), 'r'); // the new name survives a power cut
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

interface InitFlags {
  broker?: string;
  camera: string;
  deviceId?: string;
  out: string;
  force?: boolean;
}

/** A value as YAML writes it in flow position: quoted only when it must be. */
function scalarText(value: string | number): string {
  return stringify(value).trimEnd();
}

/**
 * The template with each path's value replaced in place, by the source range
 * of its node: every comment, blank line and alignment of the example stays
 * as it is (a re-serialised document would re-indent comments). Each path
 * must exist in the template, which is this program's own example.
 */
export function editYaml(text: string, edits: ReadonlyArray<readonly [string[], string | number]>, noteBefore?: [string, string]): string {
  const doc = parseDocument(text);
  const splices: Array<[number, number, string]> = [];
  for (const [path, value] of edits) {
    const node = doc.getIn(path, true) as Scalar | undefined;
    if (!isScalar(node) || !node.range) throw new Error(`the example configuration has no ${path.join('.')}`);
    const [start, end] = node.range;
    const replacement = scalarText(value);
    // Keep a trailing comment's column where there is room: the example aligns them.
    const gap = /^( +)#/.exec(text.slice(end))?.[1]?.length ?? 0;
    const spaces = gap ? ' '.repeat(Math.max(1, gap - (replacement.length - (end - start)))) : '';
    splices.push([start, end + gap, replacement + spaces]);
  }
  if (noteBefore) {
    const key = (doc.contents as { items?: Array<{ key: Scalar }> } | null)?.items?.find((p) => p.key.value === noteBefore[0])?.key;
    if (key?.range) splices.push([key.range[0], key.range[0], `# ${noteBefore[1]}\n`]);
  }
  let out = text;
  for (const [start, end, replacement] of splices.sort((a, b) => b[0] - a[0])) out = out.slice(0, start) + replacement + out.slice(end);
  return out;
}

export function runInit(flags: InitFlags): void {
  const template = exampleConfigText();
  const example = parseDocument(template);
  const camera = chooseCamera(findV4l2Cameras(), flags.camera);
  const edits: Array<[string[], string | number]> = [[['device', 'id'], flags.deviceId ?? defaultDeviceId()]];
  if (flags.broker !== undefined) edits.push([['mqtt', 'url'], flags.broker]);
  if (camera) for (const [key, value] of Object.entries(camera.suggested!)) edits.push([['camera', key], value]);
  else
    process.stderr.write(
      `splitoculo-edge init: no camera found; kept the example's camera (${example.getIn(['camera', 'device'])}, ${example.getIn(['camera', 'inputFormat'])}): run splitoculo-edge cameras once one is connected\n`,
    );
  const note = camera ? (['camera', `chosen by splitoculo-edge init: ${camera.device}${camera.name ? ` (${camera.name})` : ''}`] as [string, string]) : undefined;
  const text = editYaml(template, edits, note);
  // The schema check and run use, on exactly the text to be written. model.path is left as the example has it
  // (unset: the built-in models, filled in by the commands at start); a stand-in here lets the rest be validated.
  const tree = parseDocument(text).toJS() as Record<string, Record<string, unknown>>;
  const config = validateConfig({ ...tree, model: { path: 'built-in', ...tree.model } }, `${flags.out} (as init would write it)`);
  if (existsSync(flags.out) && !flags.force) throw new InitError(`${flags.out}: already exists; not overwritten (--force to replace it)`);
  writeAtomically(flags.out, text, Boolean(flags.force));
  const c = config.camera;
  const cameraLine =
    c.type === 'v4l2' ? `${c.device}${camera?.name ? ` (${camera.name})` : ''}, ${c.inputFormat} ${c.width}x${c.height} at ${c.fps} fps${camera ? '' : " (the example's; none found)"}` : c.type;
  console.log(`camera: ${cameraLine}`);
  console.log(`broker: ${redactSecrets(config.mqtt.url)}${flags.broker === undefined ? " (the example's: set mqtt.url, or init --broker URL)" : ''}`);
  console.log(`device: ${config.device.id}`);
  console.log(`wrote ${flags.out}`);
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description("write a configuration for this board: the example's, with the camera found here, the broker and a device id")
    .option('--broker <url>', 'mqtt.url: the broker the cloud worker listens on (mqtt://host:1883, mqtts://...)')
    .option('--camera <device>', 'a V4L2 device from `splitoculo-edge cameras`, or auto: the camera giving MJPEG, else NV12 (rkisp main path), else YUYV', 'auto')
    .option('--device-id <id>', 'device.id (default: the host name)')
    .option('--out <path>', 'where to write it', DEFAULT_OUT)
    .option('--force', 'replace an existing file')
    .action((flags: InitFlags) => runInit(flags));
}
