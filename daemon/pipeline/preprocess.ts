/**
 * Image -> normalised NCHW float32 tensor, exactly as the manifest says
 * (for SplitOculo: torchvision Resize(224, bicubic) on a PIL RGB image,
 * CenterCrop(224), ToTensor, Normalize(ImageNet mean, std)).
 *
 * Matching the seed's training pipeline matters more than doing what a photo
 * viewer would: no EXIF auto-rotation (PIL does none), alpha is dropped rather
 * than composited (PIL's convert('RGB')), grayscale is replicated to RGB.
 */
import sharp from 'sharp';
import { resamplePillow } from './bicubic.ts';
import type { Manifest } from '../../protocol/manifest/schema.ts';
import { UserError } from '../../protocol/errors.ts';
import { describeDecodeFailure, unusableImageInput } from './image-input.ts';

export class ImageError extends UserError {
  override readonly name = 'ImageError';
}

export interface PreprocessedImage {
  tensor: Float32Array;
  sourceWidth: number;
  sourceHeight: number;
}

/** 64 MP (192 MB decoded): above any camera sensor in use, far under what a board can hold. */
export const MAX_FRAME_PIXELS = 64_000_000;

/** torchvision Resize(int): the short side becomes `size`, the long side is truncated, not rounded. */
export function resizedDimensions(width: number, height: number, shortSide: number): { width: number; height: number } {
  if (width <= height) return { width: shortSide, height: Math.trunc((shortSide * height) / width) };
  return { width: Math.trunc((shortSide * width) / height), height: shortSide };
}

/** torchvision CenterCrop offsets: int(round((size - crop) / 2)), Python's round-half-to-even. */
export function centreCropOffset(size: number, crop: number): number {
  const exact = (size - crop) / 2;
  const floor = Math.floor(exact);
  const diff = exact - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Camera pixels with no file format around them (raw V4L2 frames converted to RGB by ffmpeg): HWC, 3 bytes a pixel. */
export interface RawRgb {
  rgb: Buffer;
  width: number;
  height: number;
}

export async function preprocessImage(input: Buffer | string | RawRgb, pre: Manifest['preprocess'], label = 'image'): Promise<PreprocessedImage> {
  const { rgb, sourceWidth, sourceHeight } = await cropToRgb(input, pre, label);
  return { tensor: toNormalisedNchw(rgb, pre.crop.width * pre.crop.height, pre), sourceWidth, sourceHeight };
}

/** The resized, centre-cropped RGB pixels (HWC, uint8), before normalisation. */
export async function cropToRgb(input: Buffer | string | RawRgb, pre: Manifest['preprocess'], label = 'image'): Promise<{ rgb: Buffer; sourceWidth: number; sourceHeight: number }> {
  if (typeof input !== 'string' && !Buffer.isBuffer(input)) return cropRawRgb(input, pre, label);
  const unusable = await unusableImageInput(input);
  if (unusable) throw new ImageError(`${label}: ${unusable}`);
  let width: number | undefined;
  let height: number | undefined;
  try {
    const meta = await sharp(input, { failOn: 'warning' }).metadata();
    width = meta.width;
    height = meta.height;
  } catch (error) {
    throw new ImageError(`${label}: ${await describeDecodeFailure(input, error)}`);
  }
  if (!width || !height) throw new ImageError(`${label}: image has no dimensions`);
  // The exact (Pillow) reduction decodes the whole frame first, 3 bytes a pixel: bounded before that allocation.
  if (width * height > MAX_FRAME_PIXELS) {
    throw new ImageError(`${label}: image too large: ${width}x${height} = ${width * height} pixels, the limit for a frame is ${MAX_FRAME_PIXELS} pixels; scale it down first`);
  }
  const { crop } = pre;
  const resized = resizedDimensions(width, height, pre.resize.shortSide);
  if (resized.width < crop.width || resized.height < crop.height) {
    throw new ImageError(`${label}: resizing ${width}x${height} gives ${resized.width}x${resized.height}, smaller than the ${crop.width}x${crop.height} crop`);
  }
  const left = centreCropOffset(resized.width, crop.width);
  const top = centreCropOffset(resized.height, crop.height);
  let pixels: Buffer;
  try {
    // PIL ignores embedded ICC profiles; so must we, or colours shift by up to 12 grey levels.
    const decoded = sharp(input, { failOn: 'warning', ignoreIcc: true }).removeAlpha().toColourspace('srgb');
    const { data, info } = await decoded.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`expected 3 channels after conversion, got ${info.channels}`);
    // Both directions through our port of Pillow's resampling, computing only the crop: libvips' reduction
    // (a box shrink, then its own cubic) differs from Pillow's by up to 36 grey levels on large reductions.
    const window = { left, top, width: crop.width, height: crop.height };
    const resampled = resamplePillow(data, info.width, info.height, 3, resized.width, resized.height, pre.resize.kernel, window);
    pixels = Buffer.from(resampled.buffer, resampled.byteOffset, resampled.byteLength);
  } catch (error) {
    throw new ImageError(`${label}: ${await describeDecodeFailure(input, error)}`);
  }
  return { rgb: pixels, sourceWidth: width, sourceHeight: height };
}

/**
 * The same resize and crop on pixels that are already RGB: nothing to decode,
 * so straight into the Pillow port (no copy through libvips, no JPEG round
 * trip). Parity with PIL on the same RGB: test/pipeline/raw-camera.test.ts.
 */
export function cropRawRgb({ rgb, width, height }: RawRgb, pre: Manifest['preprocess'], label = 'image'): { rgb: Buffer; sourceWidth: number; sourceHeight: number } {
  if (rgb.length !== width * height * 3) throw new ImageError(`${label}: ${rgb.length} bytes of raw RGB, expected ${width}x${height}x3 = ${width * height * 3}`);
  const { crop } = pre;
  const resized = resizedDimensions(width, height, pre.resize.shortSide);
  if (resized.width < crop.width || resized.height < crop.height) {
    throw new ImageError(`${label}: resizing ${width}x${height} gives ${resized.width}x${resized.height}, smaller than the ${crop.width}x${crop.height} crop`);
  }
  const window = { left: centreCropOffset(resized.width, crop.width), top: centreCropOffset(resized.height, crop.height), width: crop.width, height: crop.height };
  const resampled = resamplePillow(rgb, width, height, 3, resized.width, resized.height, pre.resize.kernel, window);
  return { rgb: Buffer.from(resampled.buffer, resampled.byteOffset, resampled.byteLength), sourceWidth: width, sourceHeight: height };
}

/** uint8 HWC RGB -> normalised float32 CHW, through one 256-entry table per channel. */
export function toNormalisedNchw(rgb: Uint8Array, plane: number, pre: Manifest['preprocess']): Float32Array {
  const tensor = new Float32Array(3 * plane);
  const lut = new Float32Array(256);
  for (let c = 0; c < 3; c++) {
    const mean = pre.mean[c]!;
    const std = pre.std[c]!;
    for (let v = 0; v < 256; v++) lut[v] = (v * pre.scale - mean) / std;
    const out = tensor.subarray(c * plane, (c + 1) * plane);
    for (let i = 0, j = c; i < plane; i++, j += 3) out[i] = lut[rgb[j]!]!;
  }
  return tensor;
}
