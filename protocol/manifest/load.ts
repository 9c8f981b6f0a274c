/**
 * Loads a model folder's manifest.json and verifies it: the schema, the model
 * id against the listed hashes, and the SHA-256 of every file the caller is
 * about to run (the edge needs only edge.onnx, the cloud only cloud.onnx).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { formatIssues } from '../json-input.ts';
import { computeModelId } from './model-id.ts';
import { manifestSchema, SPLIT_LAYER_CONVENTION, type Manifest, type ModelFile, type ModelRole } from './schema.ts';
import { UserError } from '../errors.ts';

/**
 * Why a manifest without splitLayerConvention is refused rather than migrated: its exporter counted L as
 * "the output of block L" while a seed checkpoint trained at L means "after L blocks", and nothing in the
 * folder says which one the user meant when typing --split-layer; guessing picks the wrong tail half the time.
 */
export const PRE_CONVENTION_MESSAGE =
  `no splitLayerConvention: exported before the split layer was counted as the seed counts it ('${SPLIT_LAYER_CONVENTION}': ` +
  'features after L vision blocks, the tail resuming at block L; this file may mean the output of block L); ' +
  're-export with models/export.py --split-layer <the L the checkpoint was trained at> and the tail with models/qwen.py tail --split-layer <the same L>';

export class ManifestError extends UserError {
  override readonly name = 'ManifestError';
}

export interface LoadedModel {
  directory: string;
  manifest: Manifest;
  /** Absolute path of each verified file, by role. */
  paths: Partial<Record<ModelRole, string>>;
}

export async function loadModel(directory: string, roles: readonly ModelRole[]): Promise<LoadedModel> {
  const dir = resolve(directory);
  const manifestPath = join(dir, 'manifest.json');
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (error) {
    throw new ManifestError(`${manifestPath}: cannot read the model manifest (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ManifestError(`${manifestPath}: not JSON (${(error as Error).message})`);
  }
  if (typeof json === 'object' && json !== null && !('splitLayerConvention' in json)) {
    throw new ManifestError(`${manifestPath}: ${PRE_CONVENTION_MESSAGE}`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) throw new ManifestError(`${manifestPath}: ${formatIssues(parsed.error)}`);
  const manifest = parsed.data;
  const hashes = Object.fromEntries(Object.entries(manifest.files).map(([role, file]) => [role, (file as ModelFile).sha256]));
  const expectedId = computeModelId(manifest.splitLayer, hashes);
  if (expectedId !== manifest.modelId) {
    throw new ManifestError(`${manifestPath}: modelId is ${manifest.modelId}, but its split layer and file hashes give ${expectedId}`);
  }
  const paths: Partial<Record<ModelRole, string>> = {};
  for (const role of roles) {
    const file = manifest.files[role];
    if (!file) throw new ManifestError(`${manifestPath}: lists no ${role} model (files.${role} is missing)`);
    const path = join(dir, file.path);
    await verifyFile(path, file);
    paths[role] = path;
  }
  return { directory: dir, manifest, paths };
}

async function verifyFile(path: string, file: ModelFile): Promise<void> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    throw new ManifestError(`${path}: model file missing (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  if (size !== file.bytes) throw new ManifestError(`${path}: ${size} bytes, the manifest expects ${file.bytes}`);
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  const actual = hash.digest('hex');
  if (actual !== file.sha256) throw new ManifestError(`${path}: SHA-256 is ${actual}, the manifest expects ${file.sha256}`);
}
