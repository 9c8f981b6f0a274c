/**
 * `splitoculo-cloud decode <frame>`: print a frame's header and decoded
 * statistics. The header's device id and prompt are the sender's text: the
 * report is printed with every control character escaped (runtime/printable.ts).
 */
import type { Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { loadModel, ManifestError } from '../../protocol/manifest/load.ts';
import { UserError } from '../../protocol/errors.ts';
import { FrameError } from '../../protocol/wire/errors.ts';
import { decodeFrame, MAX_FRAME_BYTES, type WireFrame } from '../../protocol/wire/frame.ts';
import { dequantise } from '../../protocol/wire/quantise.ts';
import { CloudDecoder } from '../pipeline/cloud-decoder.ts';
import { stringifyPrintable } from '../../runtime/printable.ts';

function stats(values: Float32Array) {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const mean = sum / values.length;
  let squares = 0;
  for (const v of values) squares += (v - mean) ** 2;
  return { min, max, mean, std: Math.sqrt(squares / Math.max(values.length - 1, 1)) };
}

/** The file given to `decode` cannot be read as a frame file (missing, a folder, too large). */
export class FrameFileError extends UserError {
  override readonly name = 'FrameFileError';
}

/** Reads one frame file; every failure names the file. Size is checked before reading (a frame is at most MAX_FRAME_BYTES). */
async function readFrameFile(file: string): Promise<{ bytes: Buffer; frame: WireFrame }> {
  let info: Stats;
  try {
    info = await stat(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new FrameFileError(`${file}: ${code === 'ENOENT' ? 'no such file' : 'cannot read the frame file'} (${code ?? (error as Error).message})`);
  }
  if (info.isDirectory()) throw new FrameFileError(`${file}: is a folder, expected a file holding one wire frame (e.g. from splitoculo-edge encode --out)`);
  if (!info.isFile()) throw new FrameFileError(`${file}: not a regular file, expected a file holding one wire frame`);
  if (info.size > MAX_FRAME_BYTES) throw new FrameFileError(`${file}: ${info.size} bytes, a frame is at most ${MAX_FRAME_BYTES} bytes`);
  const bytes = await readFile(file);
  try {
    return { bytes, frame: decodeFrame(bytes) };
  } catch (error) {
    if (error instanceof FrameError) throw new FrameFileError(`${file}: ${error.message}`, { cause: error });
    throw error;
  }
}

export function registerDecode(program: Command): void {
  program
    .command('decode')
    .description('decode a wire frame file; with --model, also run cloud.onnx on it')
    .argument('<frame>', 'file holding one wire frame')
    .option('-m, --model <dir>', 'model folder: run the cloud network and report feature statistics')
    .option('--json', 'print the report as JSON')
    .action(async (file: string, options: { model?: string; json?: boolean }) => {
      const { bytes, frame } = await readFrameFile(file);
      if (frame.codec === 'jpeg') {
        const { image, ...header } = frame;
        const report = { file, bytes: bytes.length, ...header, image: { width: image.width, height: image.height, jpegBytes: image.jpeg.length } };
        console.log(stringifyPrintable(report, options.json ? undefined : 2));
        return;
      }
      const { tokens, ...header } = frame;
      const report: Record<string, unknown> = {
        file,
        bytes: bytes.length,
        ...header,
        tokens: { count: tokens.count, width: tokens.width, quantisation: tokens.scheme, ...stats(dequantise(tokens)) },
      };
      if (options.model) {
        const model = await loadModel(options.model, ['cloud']);
        if (model.manifest.modelId !== frame.modelId) {
          throw new ManifestError(`${file}: frame is for model ${frame.modelId}, ${options.model} holds ${model.manifest.modelId}`);
        }
        const decoder = await CloudDecoder.open(model);
        try {
          const [features] = await decoder.decode([tokens]);
          report.features = { shape: [model.manifest.target.tokens, model.manifest.target.hiddenSize], ...stats(features!) };
        } finally {
          await decoder.close();
        }
      }
      console.log(stringifyPrintable(report, options.json ? undefined : 2));
    });
}
