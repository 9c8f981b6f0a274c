/**
 * A Hugging Face Qwen2.5-VL folder as the worker uses it: config.json for the
 * token ids and widths, onnx/ for the vision tails (models/qwen.py tail) and
 * the language model (models/qwen.py language-model, or a published export).
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { formatIssues } from '../../protocol/json-input.ts';
import { SPLIT_LAYER_CONVENTION, type Manifest } from '../../protocol/manifest/schema.ts';
import { AnswererError } from './errors.ts';

const configSchema = z.object({
  model_type: z.literal('qwen2_5_vl'),
  image_token_id: z.number().int().nonnegative(),
  vision_config: z.object({ spatial_merge_size: z.number().int().positive().default(2), out_hidden_size: z.number().int().positive() }),
  text_config: z.object({ hidden_size: z.number().int().positive() }).optional(),
  hidden_size: z.number().int().positive().optional(),
});

// formatVersion 2 counts L as the seed does (the tail runs blocks L..depth-1; L = -1 embeds pixel patches);
// version 1 tails ran blocks L+1.. and are refused by name (see findTail), never reinterpreted.
const tailSchema = z.object({
  format: z.literal('splitoculo-qwen-vision-tail'),
  formatVersion: z.literal(2),
  splitLayer: z.number().int(),
  splitLayerConvention: z.literal(SPLIT_LAYER_CONVENTION),
  gridThw: z.tuple([z.number().int(), z.number().int(), z.number().int()]),
  hiddenSize: z.number().int().positive(),
  /** Values per patch of the tail's input: hiddenSize, or the pixel patch size for L = -1. */
  featureWidth: z.number().int().positive(),
  patches: z.number().int().positive(),
  outHiddenSize: z.number().int().positive(),
  imageTokens: z.number().int().positive(),
  file: z.string().min(1),
});

export type TailDescription = z.infer<typeof tailSchema> & { path: string };

export interface QwenFolder {
  directory: string;
  imageTokenId: number;
  mergeSize: number;
  /** Language-model width: the width of one image embedding row. */
  textHiddenSize: number;
}

export async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new AnswererError('model-files', `${path}: cannot read ${what} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new AnswererError('model-files', `${path}: ${what} is not JSON (${(error as Error).message})`);
  }
}

export async function openQwenFolder(directory: string): Promise<QwenFolder> {
  const dir = resolve(directory);
  const path = join(dir, 'config.json');
  const parsed = configSchema.safeParse(await readJson(path, 'the Qwen2.5-VL config'));
  if (!parsed.success) throw new AnswererError('model-files', `${path}: ${formatIssues(parsed.error)}`);
  const config = parsed.data;
  const textHiddenSize = config.text_config?.hidden_size ?? config.hidden_size;
  if (textHiddenSize === undefined) throw new AnswererError('model-files', `${path}: neither text_config.hidden_size nor hidden_size is set`);
  if (config.vision_config.out_hidden_size !== textHiddenSize) {
    throw new AnswererError('model-files', `${path}: vision_config.out_hidden_size ${config.vision_config.out_hidden_size} differs from the language model's hidden_size ${textHiddenSize}`);
  }
  return { directory: dir, imageTokenId: config.image_token_id, mergeSize: config.vision_config.spatial_merge_size, textHiddenSize };
}

export function tailBaseName(splitLayer: number, grid: readonly number[]): string {
  return `vision_tail.L${splitLayer}.${grid.join('x')}`;
}

/** The tail for a SplitOculo model, checked to fit it: same split layer and convention, grid, width and token count. */
export async function findTail(folder: QwenFolder, manifest: Manifest): Promise<TailDescription> {
  const { splitLayer } = manifest;
  const { gridThw, hiddenSize, tokens } = manifest.target;
  const base = tailBaseName(splitLayer, gridThw);
  const path = join(folder.directory, 'onnx', `${base}.json`);
  const command = `models/qwen.py tail --qwen ${folder.directory} --split-layer ${splitLayer} --grid ${gridThw.join(' ')}`;
  let json: unknown;
  try {
    json = await readJson(path, 'the vision tail description');
  } catch (error) {
    throw new AnswererError('model-files', `${(error as Error).message}; model ${manifest.name} needs the tail from split layer ${splitLayer} (after ${splitLayer} blocks): run ${command}`);
  }
  if (typeof json === 'object' && json !== null && !('splitLayerConvention' in json)) {
    throw new AnswererError(
      'model-files',
      `${path}: no splitLayerConvention: an older tail that resumes one block later than model ${manifest.name} means (after block L, not after L blocks); re-export it: run ${command}`,
    );
  }
  const parsed = tailSchema.safeParse(json);
  if (!parsed.success) throw new AnswererError('model-files', `${path}: ${formatIssues(parsed.error)}`);
  const tail = parsed.data;
  const mismatches = [
    tail.splitLayer !== splitLayer && `splitLayer ${tail.splitLayer} (model: ${splitLayer})`,
    tail.gridThw.join('x') !== gridThw.join('x') && `gridThw ${tail.gridThw.join('x')} (model: ${gridThw.join('x')})`,
    tail.featureWidth !== hiddenSize && `${tail.featureWidth === tail.hiddenSize ? 'hiddenSize' : 'featureWidth'} ${tail.featureWidth} (model target: ${hiddenSize})`,
    tail.patches !== tokens && `patches ${tail.patches} (model target tokens: ${tokens})`,
    tail.outHiddenSize !== folder.textHiddenSize && `outHiddenSize ${tail.outHiddenSize} (language model: ${folder.textHiddenSize})`,
  ].filter(Boolean);
  if (mismatches.length > 0) {
    throw new AnswererError('model-mismatch', `${path}: does not fit model ${manifest.name} (${manifest.modelId}): ${mismatches.join(', ')}`);
  }
  return { ...tail, path: join(folder.directory, 'onnx', tail.file) };
}
