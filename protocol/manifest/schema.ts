/**
 * models/<name>/manifest.json: what both sides need to run a model pair
 * exactly as it was exported (written by models/export.py).
 */
import { z } from 'zod';

/** The split layer convention both sides agree on (models/qwen_export/vision_tail.py SPLIT_LAYER_CONVENTION). */
export const SPLIT_LAYER_CONVENTION = 'after-L-blocks';

const dimension = z.union([z.number().int().nonnegative(), z.string().min(1)]);
const tensorSignature = z.object({
  name: z.string().min(1),
  dtype: z.string().min(1),
  shape: z.array(dimension),
});

const modelFile = z.object({
  path: z
    .string()
    .min(1)
    .refine((p) => !p.includes('/') && !p.startsWith('.'), 'a file name inside the model folder')
    .describe('file name inside the model folder'),
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits')
    .describe('SHA-256 of the file'),
  bytes: z.number().int().positive(),
  inputs: z.array(tensorSignature).min(1),
  outputs: z.array(tensorSignature).min(1),
});

export const manifestSchema = z.object({
  format: z.literal('splitoculo-manifest'),
  formatVersion: z.literal(1),
  modelId: z
    .string()
    .regex(/^[0-9a-f]{32}$/, 'expected 32 lowercase hex digits')
    .describe('hash of the split layer and model files'),
  name: z.string().min(1),
  splitLayer: z.number().int().min(-1).max(32).describe('split layer L as the seed counts it: the cloud predicts the vision hidden states after L blocks'),
  // Stated, not implied: L counts blocks RUN (0 = the patch embedding's output, -1 = the pixel patches) and the
  // Qwen tail resumes at block L. Manifests written before this field meant "the output of block L" (a tail
  // running blocks L+1..), which silently skips a block for a seed checkpoint; load.ts refuses them by name.
  splitLayerConvention: z.literal(SPLIT_LAYER_CONVENTION).describe('how splitLayer counts: hidden states after L vision blocks'),
  preprocess: z.object({
    colorSpace: z.literal('srgb'),
    resize: z.object({ shortSide: z.number().int().positive(), kernel: z.enum(['bicubic', 'bilinear']) }),
    crop: z.object({ mode: z.literal('center'), width: z.number().int().positive(), height: z.number().int().positive() }),
    scale: z.number().positive(),
    mean: z.tuple([z.number(), z.number(), z.number()]),
    std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]),
    layout: z.literal('nchw'),
  }),
  tokens: z.object({ count: z.number().int().positive(), width: z.number().int().positive() }),
  bottleneck: z.object({ method: z.enum(['linear', 'mlp', 'autoencoder']), dim: z.number().int().positive() }),
  quantisation: z.object({
    default: z.enum(['per-tensor', 'per-token']),
    allowed: z.array(z.enum(['per-tensor', 'per-token'])).min(1),
  }),
  target: z.object({
    hiddenSize: z.number().int().positive(),
    tokens: z.number().int().positive(),
    gridThw: z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]),
    tokenOrder: z.literal('qwen2.5-vl-merge-blocks'),
    rescale: z.object({ mean: z.number(), std: z.number().positive() }).nullable(),
  }),
  opset: z.number().int().positive(),
  files: z.object({ edge: modelFile.optional(), cloud: modelFile.optional() }).catchall(modelFile),
  architecture: z.record(z.string(), z.unknown()).optional(),
  source: z.record(z.string(), z.unknown()).optional(),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ModelFile = z.infer<typeof modelFile>;
export type ModelRole = 'edge' | 'cloud';
