/**
 * The encoders under frame-maker.ts: the edge model (run, quantise, pack a
 * neural frame) and the JPEG of the preprocessed crop. The daemon and the
 * `encode` command go through FrameMaker (codec choice, signing); `encode`
 * here is the neural path from a file, for the parity tests and benchmarks,
 * built from the same preprocessing and `encodeTensor`.
 */
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { WIRE_CODEC } from '../../protocol/codec-names.ts';
import type { LoadedModel } from '../../protocol/manifest/load.ts';
import type { SessionOptions } from '../../protocol/manifest/onnx-session.ts';
import { encodeFrame, type FrameHeader } from '../../protocol/wire/frame.ts';
import { quantise, type QuantisationScheme } from '../../protocol/wire/quantise.ts';
import type { Encoder, EncoderThread } from './encoder.ts';
import { InlineEncoder } from './inline-encoder.ts';
import { WorkerEncoder } from './worker-encoder.ts';
import { preprocessImage } from './preprocess.ts';

/** Everything in a frame header that the encoder does not decide itself. */
export type FrameMetadata = Omit<FrameHeader, 'codec' | 'modelId'>;

export interface EncodedFrame {
  bytes: Uint8Array;
  tokens: Float32Array;
  timings: { preprocessMs: number; encodeMs: number; quantiseMs: number };
}

export type EncoderOptions = SessionOptions & { thread?: EncoderThread };

/** The edge model on the thread `model.thread` names (encoder.ts); `main` unless told. */
export function openEncoder(model: LoadedModel, options: EncoderOptions = {}): Promise<Encoder> {
  const { thread = 'main', ...session } = options;
  return thread === 'worker' ? WorkerEncoder.open(model, session) : InlineEncoder.open(model, session);
}

export class FrameEncoder {
  readonly model: LoadedModel;
  readonly scheme: QuantisationScheme;
  readonly #encoder: Encoder;

  private constructor(model: LoadedModel, encoder: Encoder, scheme: QuantisationScheme) {
    this.model = model;
    this.#encoder = encoder;
    this.scheme = scheme;
  }

  static async open(model: LoadedModel, options: EncoderOptions & { scheme?: QuantisationScheme } = {}): Promise<FrameEncoder> {
    const scheme = options.scheme ?? model.manifest.quantisation.default;
    if (!model.manifest.quantisation.allowed.includes(scheme)) {
      throw new RangeError(`quantisation ${scheme} is not allowed by model ${model.manifest.name} (allowed: ${model.manifest.quantisation.allowed.join(', ')})`);
    }
    return new FrameEncoder(model, await openEncoder(model, options), scheme);
  }

  async encode(image: Buffer | string, meta: FrameMetadata, label?: string): Promise<EncodedFrame> {
    const t0 = performance.now();
    const { tensor } = await preprocessImage(image, this.model.manifest.preprocess, label);
    const preprocessMs = performance.now() - t0;
    const frame = await this.encodeTensor(tensor, meta);
    return { ...frame, timings: { ...frame.timings, preprocessMs } };
  }

  /** The stages after preprocessing: edge model, quantisation, packing. */
  async encodeTensor(tensor: Float32Array, meta: FrameMetadata): Promise<EncodedFrame> {
    const t1 = performance.now();
    const tokens = await this.#encoder.encode(tensor);
    const t2 = performance.now();
    const { count, width } = this.model.manifest.tokens;
    const bytes = encodeFrame({
      codec: WIRE_CODEC.neural,
      modelId: this.model.manifest.modelId,
      ...meta,
      tokens: quantise(tokens, count, width, this.scheme),
    });
    const t3 = performance.now();
    return { bytes, tokens, timings: { preprocessMs: 0, encodeMs: t2 - t1, quantiseMs: t3 - t2 } };
  }

  /** The preprocessed crop (uint8 RGB, HWC) as a JPEG frame: codec jpeg, no edge model. */
  async encodeJpeg(rgb: Uint8Array, meta: FrameMetadata, quality: number): Promise<{ bytes: Uint8Array; encodeMs: number }> {
    const started = performance.now();
    const { width, height } = this.model.manifest.preprocess.crop;
    const jpeg = await sharp(rgb, { raw: { width, height, channels: 3 } })
      .jpeg({ quality })
      .toBuffer();
    const bytes = encodeFrame({ codec: WIRE_CODEC.jpeg, modelId: this.model.manifest.modelId, ...meta, image: { width, height, jpeg } });
    return { bytes, encodeMs: performance.now() - started };
  }

  async close(): Promise<void> {
    await this.#encoder.close();
  }
}
