/**
 * The one path from an image to a finished wire frame, for the daemon and
 * for `splitoculo-edge encode`: preprocess (resize, centre crop), pick the
 * codec (fixed, or `auto` per frame from the link), encode (edge model +
 * quantisation, or JPEG of the crop), sign when a key is set.
 *
 * Preprocessing is its own step (`prepare`) so the capture pipeline can
 * overlap the next image's preprocessing with this one's encode. Everything
 * the codec decision needs to know about the wire format (the neural frame's
 * size, the tag's) is worked out here, not by the caller.
 */
import { performance } from 'node:perf_hooks';
import type { FrameCodec, CodecSetting } from '../../protocol/codec-names.ts';
import type { LoadedModel } from '../../protocol/manifest/load.ts';
import { signFrame } from '../../protocol/wire/frame-auth.ts';
import { AUTH_TAG_BYTES, frameSize } from '../../protocol/wire/frame.ts';
import type { QuantisationScheme } from '../../protocol/wire/quantise.ts';
import type { LinkEstimate } from '../link/link-estimator.ts';
import { CodecSelector } from './codec-selector.ts';
import type { EncoderThread } from './encoder.ts';
import { FrameEncoder, type FrameMetadata } from './frame-encoder.ts';
import { cropToRgb, toNormalisedNchw, type RawRgb } from './preprocess.ts';

export interface FrameMakerOptions {
  codec: CodecSetting;
  jpegQuality: number;
  switchMargin?: number;
  jpegCloudExtraMs?: number;
  /** Signs every frame (HMAC tag) when set. */
  key: Uint8Array | null;
  intraOpThreads?: number;
  /** Where the edge model runs (encoder.ts); `main` unless told. */
  thread?: EncoderThread;
  /** Keep onnxruntime's CPU arena (protocol/manifest/onnx-session.ts). */
  arena?: boolean;
  scheme?: QuantisationScheme;
}

/** The resized, centre-cropped pixels (uint8 RGB, HWC): the neural input before normalising, or the JPEG's. */
export interface PreparedImage {
  rgb: Buffer;
  preprocessMs: number;
}

/** What the link looks like to a new frame; `auto` weighs it, fixed codecs ignore it. */
export interface LinkView {
  link: LinkEstimate;
  /** Frame bytes queued or unacknowledged ahead of this one. */
  backlogBytes: number;
}

export const NO_LINK: LinkView = { link: { rttMs: undefined, bytesPerSecond: undefined, samples: 0 }, backlogBytes: 0 };

export interface MadeFrame {
  /** The finished frame, signed when a key is set. */
  bytes: Uint8Array;
  codec: FrameCodec;
  signed: boolean;
  /** encodeMs: edge model (neural) or JPEG encode and pack; quantiseMs: quantise and pack (neural only). */
  timings: { preprocessMs: number; encodeMs: number; quantiseMs: number };
  /** `auto` only: predicted ms from capture to the cloud for each codec, and the link it was predicted on. */
  predictedMs?: Record<FrameCodec, number>;
  link?: LinkEstimate;
}

export class FrameMaker {
  readonly encoder: FrameEncoder;
  readonly codec: CodecSelector;
  readonly #options: FrameMakerOptions;

  private constructor(encoder: FrameEncoder, options: FrameMakerOptions) {
    this.encoder = encoder;
    this.#options = options;
    this.codec = new CodecSelector(options.codec, options.switchMargin, options.jpegCloudExtraMs);
  }

  static async open(model: LoadedModel, options: FrameMakerOptions): Promise<FrameMaker> {
    const encoder = await FrameEncoder.open(model, {
      ...(options.intraOpThreads !== undefined && { intraOpThreads: options.intraOpThreads }),
      ...(options.thread && { thread: options.thread }),
      ...(options.arena !== undefined && { arena: options.arena }),
      ...(options.scheme && { scheme: options.scheme }),
    });
    return new FrameMaker(encoder, options);
  }

  get model(): LoadedModel {
    return this.encoder.model;
  }

  /**
   * Three encodes of a blank image: onnxruntime's first run allocates and
   * picks kernels (several times slower), and `auto` needs the neural encode
   * time before it can weigh it against the link.
   */
  async warmUp(deviceId: string): Promise<void> {
    const { width, height } = this.model.manifest.preprocess.crop;
    const meta = { deviceId, frameId: '01900000-0000-7000-8000-000000000000', sequence: 0, captureTimeMs: 0, clockUnreliable: false, prompt: null };
    // A fresh tensor each time: the encoder takes ownership of the one it is given.
    for (let run = 0; run < 3; run++) {
      const { timings } = await this.encoder.encodeTensor(new Float32Array(3 * width * height), meta);
      if (run > 0) this.codec.observeEncode('neural', timings.encodeMs + timings.quantiseMs);
    }
  }

  /** Decode, resize, crop. Throws ImageError (naming `label`) for an unusable image. */
  async prepare(image: Buffer | string | RawRgb, label: string): Promise<PreparedImage> {
    const started = performance.now();
    const { rgb } = await cropToRgb(image, this.model.manifest.preprocess, label);
    return { rgb, preprocessMs: performance.now() - started };
  }

  /** One frame from a prepared image, with the codec the selector picks (the configured one unless `auto`). */
  async make({ rgb, preprocessMs }: PreparedImage, meta: FrameMetadata, view: LinkView = NO_LINK): Promise<MadeFrame> {
    const { encoder, codec } = this;
    const key = this.#options.key;
    const tag = key ? AUTH_TAG_BYTES : 0;
    const { count, width } = encoder.model.manifest.tokens;
    const sizing = {
      link: view.link,
      neuralBytes: frameSize(meta.deviceId.length, Buffer.byteLength(meta.prompt ?? ''), count, width, encoder.scheme, tag > 0, meta.requestId?.length ?? 0),
      backlogBytes: view.backlogBytes,
    };
    // The JPEG first when it might win (a few ms): its exact size is half of the decision.
    const jpeg = codec.wantsJpeg(sizing) ? await encoder.encodeJpeg(rgb, meta, this.#options.jpegQuality) : null;
    if (jpeg) codec.observeEncode('jpeg', jpeg.encodeMs);
    const decision = codec.choose({ ...sizing, jpegBytes: jpeg ? jpeg.bytes.length + tag : undefined });
    const predicted = decision.predictedMs && { predictedMs: decision.predictedMs, link: view.link };
    const sign = (bytes: Uint8Array) => (key ? signFrame(bytes, key) : bytes);
    if (decision.codec === 'jpeg' && jpeg) {
      return { bytes: sign(jpeg.bytes), codec: 'jpeg', signed: tag > 0, timings: { preprocessMs, encodeMs: jpeg.encodeMs, quantiseMs: 0 }, ...predicted };
    }
    const { crop } = encoder.model.manifest.preprocess;
    const frame = await encoder.encodeTensor(toNormalisedNchw(rgb, crop.width * crop.height, encoder.model.manifest.preprocess), meta);
    codec.observeEncode('neural', frame.timings.encodeMs + frame.timings.quantiseMs);
    return { bytes: sign(frame.bytes), codec: 'neural', signed: tag > 0, timings: { ...frame.timings, preprocessMs }, ...predicted };
  }

  close(): Promise<void> {
    return this.encoder.close();
  }
}
