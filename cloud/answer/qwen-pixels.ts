/**
 * Frames that arrive as images (codec jpeg) take Qwen2.5-VL's own vision path:
 * the image becomes pixel patches exactly as Qwen's image processor flattens
 * them, and the whole tower (models/qwen.py vision) turns those into image
 * embeddings. This file finds that graph and makes its input.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { z } from 'zod';
import { formatIssues } from '../../protocol/json-input.ts';
import { AnswererError } from './errors.ts';
import { readJson, type QwenFolder } from './qwen-folder.ts';

const encoderSchema = z.object({
  format: z.literal('splitoculo-qwen-vision-encoder'),
  formatVersion: z.literal(1),
  gridThw: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]),
  patches: z.number().int().positive(),
  patchDim: z.number().int().positive(),
  patchSize: z.number().int().positive(),
  temporalPatchSize: z.number().int().positive(),
  mergeSize: z.number().int().positive(),
  inChannels: z.literal(3),
  imageMean: z.tuple([z.number(), z.number(), z.number()]),
  imageStd: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
  outHiddenSize: z.number().int().positive(),
  imageTokens: z.number().int().positive(),
  file: z.string().min(1),
});

export type EncoderDescription = z.infer<typeof encoderSchema> & { path: string };

export function encoderBaseName(grid: readonly number[]): string {
  return `vision_encoder.${grid.join('x')}`;
}

/** The whole-tower graph for one grid, checked against the language model it feeds. */
export async function findVisionEncoder(folder: QwenFolder, grid: readonly number[]): Promise<EncoderDescription> {
  const path = join(folder.directory, 'onnx', `${encoderBaseName(grid)}.json`);
  let json: unknown;
  try {
    json = await readJson(path, 'the vision encoder description');
  } catch (error) {
    throw new AnswererError('model-files', `${(error as Error).message}; JPEG frames need the whole vision tower: run models/qwen.py vision --qwen ${folder.directory} --grid ${grid.join(' ')}`);
  }
  const parsed = encoderSchema.safeParse(json);
  if (!parsed.success) throw new AnswererError('model-files', `${path}: ${formatIssues(parsed.error)}`);
  const encoder = parsed.data;
  const [t, h, w] = encoder.gridThw;
  if (
    t !== 1 ||
    encoder.patches !== t * h * w ||
    encoder.patchDim !== 3 * encoder.temporalPatchSize * encoder.patchSize ** 2 ||
    h % encoder.mergeSize !== 0 ||
    w % encoder.mergeSize !== 0 ||
    encoder.outHiddenSize !== folder.textHiddenSize
  ) {
    throw new AnswererError(
      'model-mismatch',
      `${path}: inconsistent description (grid ${encoder.gridThw.join('x')}, ${encoder.patches} patches of ${encoder.patchDim}, out ${encoder.outHiddenSize}; language model width ${folder.textHiddenSize})`,
    );
  }
  return { ...encoder, path: join(folder.directory, 'onnx', encoder.file) };
}

/**
 * uint8 RGB (HWC) of exactly the grid's size -> float32 [patches x patchDim]:
 * rescale 1/255, normalise, repeat the still image over the temporal patch,
 * rows in processor order (2x2 merge blocks in raster order, raster inside a
 * block), columns (channel, time, y, x).
 */
export function pixelPatches(rgb: Uint8Array, e: EncoderDescription): Float32Array {
  const [, gh, gw] = e.gridThw;
  const p = e.patchSize;
  const m = e.mergeSize;
  const width = gw * p;
  if (rgb.length !== gh * p * width * 3) throw new AnswererError('bad-shape', `image holds ${rgb.length} bytes, the grid needs ${width}x${gh * p}x3`);
  const out = new Float32Array(e.patches * e.patchDim);
  const lut = [0, 1, 2].map((c) => Float32Array.from({ length: 256 }, (_, v) => (v / 255 - e.imageMean[c]!) / e.imageStd[c]!));
  let row = 0;
  for (let bh = 0; bh < gh / m; bh++) {
    for (let bw = 0; bw < gw / m; bw++) {
      for (let mh = 0; mh < m; mh++) {
        for (let mw = 0; mw < m; mw++, row++) {
          const y0 = (bh * m + mh) * p;
          const x0 = (bw * m + mw) * p;
          let at = row * e.patchDim;
          for (let c = 0; c < 3; c++) {
            for (let t = 0; t < e.temporalPatchSize; t++) {
              for (let y = 0; y < p; y++) {
                for (let x = 0; x < p; x++) out[at++] = lut[c]![rgb[((y0 + y) * width + x0 + x) * 3 + c]!]!;
              }
            }
          }
        }
      }
    }
  }
  return out;
}

/** A JPEG -> pixel patches; an image of another size is resized to the grid (bicubic, as Qwen's processor). */
export async function jpegToPatches(jpeg: Uint8Array, e: EncoderDescription): Promise<Float32Array> {
  const width = e.gridThw[2] * e.patchSize;
  const height = e.gridThw[1] * e.patchSize;
  let rgb: Buffer;
  try {
    rgb = await sharp(jpeg, { failOn: 'warning' }).removeAlpha().toColourspace('srgb').resize(width, height, { fit: 'fill', kernel: 'cubic' }).raw({ depth: 'uchar' }).toBuffer();
  } catch (error) {
    throw new AnswererError('bad-image', `JPEG frame does not decode (${((error as Error).message ?? String(error)).split('\n')[0]})`);
  }
  return pixelPatches(rgb, e);
}
