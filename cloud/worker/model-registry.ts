/**
 * The SplitOculo models a worker serves, side by side: each folder's cloud.onnx
 * (hash-checked) opened once, looked up per frame by the frame's model id.
 */
import type { Logger } from 'pino';
import { loadModel, ManifestError, type LoadedModel } from '../../protocol/manifest/load.ts';
import { CloudDecoder } from '../pipeline/cloud-decoder.ts';

export interface ServedModel {
  model: LoadedModel;
  decoder: CloudDecoder;
}

export class ModelRegistry {
  readonly #models = new Map<string, ServedModel>();

  static async open(paths: readonly string[], options: { threads: number; log: Logger }): Promise<ModelRegistry> {
    const registry = new ModelRegistry();
    try {
      for (const path of paths) {
        const model = await loadModel(path, ['cloud']);
        const id = model.manifest.modelId;
        const existing = registry.#models.get(id);
        if (existing) throw new ManifestError(`${path}: model id ${id} is already served from ${existing.model.directory}`);
        registry.#models.set(id, { model, decoder: await CloudDecoder.open(model, { intraOpThreads: options.threads }) });
        options.log.info({ path: model.directory, modelId: id, name: model.manifest.name, splitLayer: model.manifest.splitLayer }, 'model loaded');
      }
    } catch (error) {
      await registry.close();
      throw error;
    }
    return registry;
  }

  get(modelId: string): ServedModel | undefined {
    return this.#models.get(modelId);
  }

  get ids(): string[] {
    return [...this.#models.keys()];
  }

  get all(): ServedModel[] {
    return [...this.#models.values()];
  }

  async close(): Promise<void> {
    for (const { decoder } of this.#models.values()) await decoder.close();
    this.#models.clear();
  }
}
