/** `splitoculo-cloud decode <frame>`: print a frame's header and decoded statistics. */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { loadModel, ManifestError } from '../../protocol/manifest/load.ts';
import { decodeFrame } from '../../protocol/wire/frame.ts';
import { dequantise } from '../../protocol/wire/quantise.ts';
import { CloudDecoder } from '../pipeline/cloud-decoder.ts';

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

export function registerDecode(program: Command): void {
  program
    .command('decode')
    .description('decode a wire frame file; with --model, also run cloud.onnx on it')
    .argument('<frame>', 'file holding one wire frame')
    .option('-m, --model <dir>', 'model folder: run the cloud network and report feature statistics')
    .option('--json', 'print the report as JSON')
    .action(async (file: string, options: { model?: string; json?: boolean }) => {
      const bytes = await readFile(file);
      const frame = decodeFrame(bytes);
      if (frame.codec === 'jpeg') {
        const { image, ...header } = frame;
        const report = { file, bytes: bytes.length, ...header, image: { width: image.width, height: image.height, jpegBytes: image.jpeg.length } };
        console.log(options.json ? JSON.stringify(report) : JSON.stringify(report, null, 2));
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
      console.log(options.json ? JSON.stringify(report) : JSON.stringify(report, null, 2));
    });
}
