/** `splitoculo-edge encode <image>`: one image -> one wire frame, with its size and timings. */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { assertDeviceId } from '../../protocol/device-id.ts';
import { defaultDeviceId, defaultModelDir } from '../../runtime/defaults.ts';
import { loadModel } from '../../protocol/manifest/load.ts';
import { FrameIdGenerator } from '../../protocol/wire/frame-id.ts';
import { signFrame } from '../../protocol/wire/frame-auth.ts';
import { readKeyFile } from '../../runtime/key-file.ts';
import type { QuantisationScheme } from '../../protocol/wire/quantise.ts';
import { FrameEncoder } from '../pipeline/frame-encoder.ts';
import { parseThreads, parseScheme } from './options.ts';

interface EncodeOptions {
  model: string;
  device: string;
  prompt?: string;
  quantisation?: QuantisationScheme;
  threads?: number;
  out?: string;
  keyFile?: string;
  json?: boolean;
}

export function registerEncode(program: Command): void {
  program
    .command('encode')
    .description('encode one image into a wire frame and print its size and timings')
    .argument('<image>', 'image file (JPEG, PNG, WebP, ...)')
    .option('-m, --model <dir>', 'model folder with manifest.json', defaultModelDir())
    .option('-d, --device <id>', 'device id written into the frame', defaultDeviceId())
    .option('-p, --prompt <text>', 'question to send with the frame')
    .option('-q, --quantisation <scheme>', 'per-tensor or per-token (default: the manifest\'s)', parseScheme)
    .option('-t, --threads <n>', 'onnxruntime intra-op threads (0 = all cores)', parseThreads)
    .option('-o, --out <file>', 'write the frame bytes to this file')
    .option('-k, --key-file <file>', 'sign the frame with this device key (hex or base64, mode 600)')
    .option('--json', 'print the report as JSON')
    .action(async (image: string, options: EncodeOptions) => {
      assertDeviceId(options.device, '--device');
      const key = options.keyFile ? readKeyFile(options.keyFile) : null;
      const model = await loadModel(options.model, ['edge']);
      const encoder = await FrameEncoder.open(model, {
        ...(options.threads !== undefined && { intraOpThreads: options.threads }),
        ...(options.quantisation && { scheme: options.quantisation }),
      });
      try {
        const now = Date.now();
        const frameId = new FrameIdGenerator().next();
        const frame = await encoder.encode(
          image,
          { deviceId: options.device, frameId, sequence: 0, captureTimeMs: now, clockUnreliable: false, prompt: options.prompt ?? null },
          image,
        );
        const bytes = key ? signFrame(frame.bytes, key) : frame.bytes;
        if (options.out) await writeFile(options.out, bytes);
        const report = {
          image,
          frameId,
          modelId: model.manifest.modelId,
          model: model.manifest.name,
          bytes: bytes.length,
          signed: key !== null,
          tokenBytes: model.manifest.tokens.count * model.manifest.tokens.width,
          quantisation: encoder.scheme,
          timings: frame.timings,
          ...(options.out && { out: options.out }),
        };
        if (options.json) {
          console.log(JSON.stringify(report));
        } else {
          const t = frame.timings;
          console.log(`${image}: ${report.bytes} bytes (${report.tokenBytes} token bytes, ${report.quantisation}), model ${report.model} ${report.modelId}`);
          console.log(`  frame ${frameId}${options.out ? ` -> ${options.out}` : ''}`);
          console.log(`  decode+preprocess ${t.preprocessMs.toFixed(1)} ms, encode ${t.encodeMs.toFixed(1)} ms, quantise+pack ${t.quantiseMs.toFixed(2)} ms`);
        }
      } finally {
        await encoder.close();
      }
    });
}
