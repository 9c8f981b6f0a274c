/**
 * `splitoculo-edge encode <image>`: one image -> one wire frame, with its size
 * and timings. The daemon's own path (pipeline/frame-maker.ts): every codec,
 * signing with --key-file.
 */
import { writeFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { CODEC_SETTINGS, type CodecSetting } from '../../protocol/codec-names.ts';
import { assertDeviceId } from '../../protocol/device-id.ts';
import { defaultDeviceId, defaultModelDir } from '../../runtime/defaults.ts';
import { loadModel } from '../../protocol/manifest/load.ts';
import { FrameIdGenerator } from '../../protocol/wire/frame-id.ts';
import { readKeyFile } from '../../runtime/key-file.ts';
import type { QuantisationScheme } from '../../protocol/wire/quantise.ts';
import { FrameMaker } from '../pipeline/frame-maker.ts';
import { parseThreads, parseScheme } from './options.ts';

interface EncodeOptions {
  model: string;
  device: string;
  prompt?: string;
  quantisation?: QuantisationScheme;
  threads?: number;
  codec: CodecSetting;
  jpegQuality: number;
  out?: string;
  keyFile?: string;
  json?: boolean;
}

function parseCodec(value: string): CodecSetting {
  if (!(CODEC_SETTINGS as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected ${CODEC_SETTINGS.join(', ')}, got ${JSON.stringify(value)}`);
  return value as CodecSetting;
}

function parseQuality(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new InvalidArgumentError(`expected an integer 1..100, got ${JSON.stringify(value)}`);
  return n;
}

export function registerEncode(program: Command): void {
  program
    .command('encode')
    .description('encode one image into a wire frame and print its size and timings')
    .argument('<image>', 'image file (JPEG, PNG, WebP, ...)')
    .option('-m, --model <dir>', 'model folder with manifest.json', defaultModelDir())
    .option('-d, --device <id>', 'device id written into the frame', defaultDeviceId())
    .option('-p, --prompt <text>', 'question to send with the frame')
    .option('-q, --quantisation <scheme>', "per-tensor or per-token (default: the manifest's)", parseScheme)
    .option('-t, --threads <n>', 'onnxruntime intra-op threads (0 = all cores)', parseThreads)
    .option('--codec <codec>', 'neural, jpeg or auto (auto has no link to weigh here: it picks as the daemon does before its first ping, neural)', parseCodec, 'neural')
    .option('--jpeg-quality <n>', 'JPEG quality 1..100 for jpeg and auto', parseQuality, 85)
    .option('-o, --out <file>', 'write the frame bytes to this file')
    .option('-k, --key-file <file>', 'sign the frame with this device key (hex or base64, mode 600)')
    .option('--json', 'print the report as JSON')
    .action(async (image: string, options: EncodeOptions) => {
      assertDeviceId(options.device, '--device');
      const key = options.keyFile ? readKeyFile(options.keyFile) : null;
      const model = await loadModel(options.model, ['edge']);
      const maker = await FrameMaker.open(model, {
        codec: options.codec,
        jpegQuality: options.jpegQuality,
        key,
        ...(options.threads !== undefined && { intraOpThreads: options.threads }),
        ...(options.quantisation && { scheme: options.quantisation }),
      });
      try {
        const now = Date.now();
        const frameId = new FrameIdGenerator().next();
        const prepared = await maker.prepare(image, image);
        const frame = await maker.make(prepared, { deviceId: options.device, frameId, sequence: 0, captureTimeMs: now, clockUnreliable: false, prompt: options.prompt ?? null });
        if (options.out) await writeFile(options.out, frame.bytes);
        const report = {
          image,
          frameId,
          modelId: model.manifest.modelId,
          model: model.manifest.name,
          codec: frame.codec,
          bytes: frame.bytes.length,
          signed: frame.signed,
          tokenBytes: model.manifest.tokens.count * model.manifest.tokens.width,
          quantisation: maker.encoder.scheme,
          timings: frame.timings,
          ...(options.out && { out: options.out }),
        };
        if (options.json) {
          console.log(JSON.stringify(report));
        } else {
          const t = frame.timings;
          const what =
            frame.codec === 'neural'
              ? `${report.tokenBytes} token bytes, ${report.quantisation}`
              : `JPEG of the ${model.manifest.preprocess.crop.width}x${model.manifest.preprocess.crop.height} crop, quality ${options.jpegQuality}`;
          console.log(`${image}: ${report.bytes} bytes, ${frame.codec} (${what}), model ${report.model} ${report.modelId}`);
          console.log(`  frame ${frameId}${options.out ? ` -> ${options.out}` : ''}`);
          const encode = frame.codec === 'neural' ? `encode ${t.encodeMs.toFixed(1)} ms, quantise+pack ${t.quantiseMs.toFixed(2)} ms` : `JPEG+pack ${t.encodeMs.toFixed(1)} ms`;
          console.log(`  decode+preprocess ${t.preprocessMs.toFixed(1)} ms, ${encode}`);
        }
      } finally {
        await maker.close();
      }
    });
}
