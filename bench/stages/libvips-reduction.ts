/**
 * The edge's reduction before issue 13 (libvips' cubic through sharp, then the
 * crop), kept callable so the stage bench can time the Pillow port against it
 * in the same run. Not PIL-exact: up to 36 grey levels off on a 6.3x reduction.
 */
import sharp from 'sharp';
import { centreCropOffset, cropToRgb, resizedDimensions } from '../../daemon/pipeline/preprocess.ts';
import type { Manifest } from '../../protocol/manifest/schema.ts';

/** Decoded RGB pixels (HWC, uint8) -> the resized centre crop, by libvips. */
export async function libvipsCrop(rgb: Uint8Array, width: number, height: number, pre: Manifest['preprocess']): Promise<Buffer> {
  const { crop } = pre;
  const resized = resizedDimensions(width, height, pre.resize.shortSide);
  return sharp(rgb, { raw: { width, height, channels: 3 } })
    .resize(resized.width, resized.height, { fit: 'fill', kernel: pre.resize.kernel === 'bicubic' ? 'cubic' : 'linear', fastShrinkOnLoad: false })
    .extract({ left: centreCropOffset(resized.width, crop.width), top: centreCropOffset(resized.height, crop.height), width: crop.width, height: crop.height })
    .raw({ depth: 'uchar' })
    .toBuffer();
}

/** An encoded image -> the crop, the whole old path (decode fused with the libvips reduction; enlargements went through the JS port then too). */
export async function libvipsCropFile(input: Buffer, pre: Manifest['preprocess']): Promise<Buffer> {
  const meta = await sharp(input).metadata();
  const { crop } = pre;
  const resized = resizedDimensions(meta.width!, meta.height!, pre.resize.shortSide);
  if (resized.width > meta.width!) return (await cropToRgb(input, pre)).rgb;
  return sharp(input, { failOn: 'warning', ignoreIcc: true })
    .removeAlpha()
    .toColourspace('srgb')
    .resize(resized.width, resized.height, { fit: 'fill', kernel: pre.resize.kernel === 'bicubic' ? 'cubic' : 'linear', fastShrinkOnLoad: false })
    .extract({ left: centreCropOffset(resized.width, crop.width), top: centreCropOffset(resized.height, crop.height), width: crop.width, height: crop.height })
    .raw({ depth: 'uchar' })
    .toBuffer();
}
