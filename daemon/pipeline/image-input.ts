/**
 * Why an image input cannot be used, in words a user can act on: a folder or
 * an empty file is said to be one (libvips calls both "unsupported image
 * format"), and an image over the decoder's pixel limit gets its size and the
 * limit. Returned as text; preprocess.ts wraps it in an ImageError naming the
 * input.
 */
import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import sharp from 'sharp';

/** sharp's default limitInputPixels (0x3FFF squared): what libvips will decode. */
export const MAX_INPUT_PIXELS = 0x3fff * 0x3fff;

/** The problem with the input itself before any decoding (folder, empty, missing), or null. */
export async function unusableImageInput(input: Buffer | string): Promise<string | null> {
  if (typeof input !== 'string') return input.length === 0 ? 'empty (0 bytes), expected an image' : null;
  let info: Stats;
  try {
    info = await stat(input);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return `${code === 'ENOENT' ? 'no such file' : 'cannot read the image file'} (${code ?? (error as Error).message})`;
  }
  if (info.isDirectory()) return 'is a folder, expected an image file (JPEG, PNG, WebP, ...)';
  if (!info.isFile()) return 'not a regular file, expected an image file (JPEG, PNG, WebP, ...)';
  if (info.size === 0) return 'empty file (0 bytes), expected an image (JPEG, PNG, WebP, ...)';
  return null;
}

/** The decoder's complaint about `input` as one line; the pixel limit with the image's size and the limit. */
export async function describeDecodeFailure(input: Buffer | string, error: unknown): Promise<string> {
  const first = ((error as Error).message ?? String(error)).trim().split('\n')[0]!;
  if (!/exceeds pixel limit/i.test(first)) return `not a decodable image (${first})`;
  let size = '';
  try {
    const meta = await sharp(input, { limitInputPixels: false }).metadata();
    if (meta.width && meta.height) size = `${meta.width}x${meta.height} = ${meta.width * meta.height} pixels, `;
  } catch {
    // The header itself is unreadable: say what we know.
  }
  return `image too large: ${size}the limit is ${MAX_INPUT_PIXELS} pixels (16383x16383); scale it down first`;
}
