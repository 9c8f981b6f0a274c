/**
 * Edge stage costs with a given edge model, each against a reference timed
 * in the same run: sharp's JPEG encode (Q85) of the same 224x224 crop, and for
 * the encoder the bare onnxruntime session.run with the same thread count.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { SqliteOutbox } from '../../daemon/outbox/sqlite-outbox.ts';
import { openEncoder } from '../../daemon/pipeline/frame-encoder.ts';
import { resamplePillow, resamplePillowJs } from '../../daemon/pipeline/bicubic.ts';
import { centreCropOffset, cropToRgb, resizedDimensions, toNormalisedNchw } from '../../daemon/pipeline/preprocess.ts';
import { loadModel } from '../../protocol/manifest/load.ts';
import { openSession } from '../../protocol/manifest/onnx-session.ts';
import { FrameIdGenerator } from '../../protocol/wire/frame-id.ts';
import { encodeFrame } from '../../protocol/wire/frame.ts';
import { quantise } from '../../protocol/wire/quantise.ts';
import { libvipsCrop, libvipsCropFile } from './libvips-reduction.ts';
import { paired, type StageCost } from './paired.ts';

export interface EdgeStageOptions {
  modelDir: string;
  samples: readonly string[];
  pairs: number;
  brokerUrl: string;
}

export async function edgeStages(o: EdgeStageOptions): Promise<StageCost[]> {
  const model = await loadModel(o.modelDir, ['edge']);
  const pre = model.manifest.preprocess;
  const { width, height } = pre.crop;
  const plane = width * height;
  const files = o.samples.map((path) => readFileSync(path));
  const crops = await Promise.all(files.map(async (bytes, i) => (await cropToRgb(bytes, pre, o.samples[i])).rgb));
  const pick = <T>(list: readonly T[], i: number) => list[i % list.length]!;
  const jpeg = (i: number) =>
    sharp(pick(crops, i), { raw: { width, height, channels: 3 } })
      .jpeg({ quality: 85 })
      .toBuffer();
  const ref = 'sharp JPEG Q85 of the crop';
  const costs: StageCost[] = [];

  costs.push(
    await paired(
      'edge',
      'decode + preprocess (file -> normalised tensor)',
      ref,
      o.pairs,
      jpeg,
      async (i) => toNormalisedNchw((await cropToRgb(pick(files, i), pre)).rgb, plane, pre),
      'sample files of 17-792 KB',
    ),
  );
  costs.push(
    await paired(
      'edge',
      'decode + preprocess, libvips reduction (before issue 13, not PIL-exact)',
      ref,
      o.pairs,
      jpeg,
      async (i) => toNormalisedNchw(await libvipsCropFile(pick(files, i), pre), plane, pre),
      'the same files',
    ),
  );

  // The reduction alone, on a camera-sized frame already decoded: Pillow's resampling (our port, PIL-exact:
  // WebAssembly SIMD as the daemon runs it, and the plain JS fallback) against the libvips cubic it replaced.
  const frameWidth = 1920;
  const frameHeight = 1080;
  const frame1080 = await sharp(files[0]).removeAlpha().toColourspace('srgb').resize(frameWidth, frameHeight, { fit: 'fill' }).raw().toBuffer();
  const resized = resizedDimensions(frameWidth, frameHeight, pre.resize.shortSide);
  const window = { left: centreCropOffset(resized.width, width), top: centreCropOffset(resized.height, height), width, height };
  const reduction = `${frameWidth}x${frameHeight} decoded RGB -> ${resized.width}x${resized.height}, ${width}x${height} crop`;
  costs.push(
    await paired(
      'edge',
      'reduction to the crop, Pillow port (PIL-exact)',
      ref,
      o.pairs,
      jpeg,
      () => resamplePillow(frame1080, frameWidth, frameHeight, 3, resized.width, resized.height, pre.resize.kernel, window),
      reduction,
    ),
  );
  costs.push(
    await paired(
      'edge',
      'reduction to the crop, Pillow port in plain JS (no SIMD)',
      ref,
      o.pairs,
      jpeg,
      () => resamplePillowJs(frame1080, frameWidth, frameHeight, 3, resized.width, resized.height, pre.resize.kernel, window),
      reduction,
    ),
  );
  costs.push(await paired('edge', 'reduction to the crop, libvips cubic (before issue 13)', ref, o.pairs, jpeg, () => libvipsCrop(frame1080, frameWidth, frameHeight, pre), reduction));

  const tensor = () => new Float32Array(3 * plane).map((_, k) => Math.sin(k));
  let tokens: Float32Array = new Float32Array(0);
  for (const threads of [1, 2]) {
    const encoder = await openEncoder(model, { intraOpThreads: threads });
    const bare = await openSession(model, 'edge', { intraOpThreads: threads });
    const input = new ort.Tensor('float32', tensor(), [1, 3, height, width]);
    costs.push(
      await paired(
        'edge',
        `encode, ${threads} thread${threads > 1 ? 's' : ''} (daemon's encoder thread)`,
        `bare session.run, ${threads} thread${threads > 1 ? 's' : ''}`,
        o.pairs,
        () => bare.session.run({ [bare.inputName]: input }),
        async () => (tokens = await encoder.encode(tensor())),
      ),
    );
    costs.push(await paired('edge', `encode, ${threads} thread${threads > 1 ? 's' : ''}`, ref, o.pairs, jpeg, async () => (tokens = await encoder.encode(tensor()))));
    await encoder.close();
    await bare.session.release();
  }

  const ids = new FrameIdGenerator();
  const { count, width: tokenWidth } = model.manifest.tokens;
  const frame = () =>
    encodeFrame({
      codec: 'neural-u8',
      modelId: model.manifest.modelId,
      deviceId: 'bench-stages',
      frameId: ids.next(),
      sequence: 1,
      captureTimeMs: Date.now(),
      clockUnreliable: false,
      prompt: null,
      tokens: quantise(tokens, count, tokenWidth, 'per-tensor'),
    });
  costs.push(await paired('edge', 'quantise + pack the wire frame', ref, o.pairs, jpeg, frame));

  const dir = mkdtempSync(join(tmpdir(), 'splitoculo-bench-stages-'));
  try {
    for (const synchronous of ['normal', 'full'] as const) {
      const outbox = new SqliteOutbox({ path: join(dir, `${synchronous}.db`), limits: { maxRows: 1e6, maxBytes: 1e9, ttlMs: 0, policy: 'drop-oldest', maxAnswers: 10 }, synchronous });
      costs.push(
        await paired(
          'edge',
          `outbox commit, synchronous ${synchronous.toUpperCase()}`,
          ref,
          o.pairs,
          jpeg,
          () => {
            const identity = outbox.nextIdentity();
            outbox.enqueue({ ...identity, capturedAt: Date.now(), bytes: frame() });
          },
          `SQLite WAL on ${tmpdir()}`,
        ),
      );
      outbox.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const client = await mqtt.connectAsync(o.brokerUrl, { clientId: 'bench-stages-publish' });
  const payload = Buffer.from(frame());
  costs.push(await paired('edge', 'publish to PUBACK (loopback broker, QoS 1)', ref, o.pairs, jpeg, () => client.publishAsync('splitoculo-bench/stages', payload, { qos: 1 })));
  await client.endAsync();
  return costs;
}
