/**
 * Runs vision tails (models/qwen.py tail): layer-L features -> merged image
 * embeddings, one ONNX session per (split layer, grid), opened on first use
 * and shared by every SplitOculo model that needs it. fp32 throughout: Qwen's
 * vision tower overflows in fp16.
 */
import * as ort from 'onnxruntime-node';
import type { Manifest } from '../../protocol/manifest/schema.ts';
import type { AnswerRequest } from './answerer.ts';
import { AnswererError } from './errors.ts';
import { findTail, tailBaseName, type QwenFolder, type TailDescription } from './qwen-folder.ts';

/** A request's image embeddings and its share of the batched tail run, or why there are none. */
export type TailResult = { embeds: Float32Array; tailMs: number } | { error: Error };

export interface TailOptions {
  executionProviders?: string[];
  intraOpThreads?: number;
}

interface OpenTail {
  description: TailDescription;
  session: ort.InferenceSession;
}

export class VisionTails {
  readonly #folder: QwenFolder;
  readonly #options: TailOptions;
  readonly #open = new Map<string, Promise<OpenTail>>();

  constructor(folder: QwenFolder, options: TailOptions = {}) {
    this.#folder = folder;
    this.#options = options;
  }

  /** Opens (once) the tail a model needs; rejects with a message naming the missing or unfit file. */
  prepare(manifest: Manifest): Promise<OpenTail> {
    const key = `${tailBaseName(manifest.splitLayer, manifest.target.gridThw)}@${manifest.modelId}`;
    let tail = this.#open.get(key);
    if (!tail) {
      tail = this.#openTail(manifest);
      this.#open.set(key, tail);
      tail.catch(() => this.#open.delete(key)); // a fixed folder is picked up on the next request
    }
    return tail;
  }

  async #openTail(manifest: Manifest): Promise<OpenTail> {
    const description = await findTail(this.#folder, manifest);
    try {
      const session = await ort.InferenceSession.create(description.path, {
        executionProviders: this.#options.executionProviders ?? ['cpu'],
        intraOpNumThreads: this.#options.intraOpThreads ?? 0,
        graphOptimizationLevel: 'all',
      });
      return { description, session };
    } catch (error) {
      throw new AnswererError('model-files', `${description.path}: onnxruntime cannot load it (${(error as Error).message})`);
    }
  }

  /** Image embeddings [imageTokens x outHiddenSize] for each frame's features (all for one model). */
  async run(manifest: Manifest, features: readonly Float32Array[]): Promise<Float32Array[]> {
    const { description, session } = await this.prepare(manifest);
    const perFrame = description.patches * description.hiddenSize;
    const input = new Float32Array(features.length * perFrame);
    features.forEach((one, i) => {
      if (one.length !== perFrame) {
        throw new AnswererError('bad-shape', `features hold ${one.length} values, the tail ${description.file} takes ${description.patches}x${description.hiddenSize} = ${perFrame}`);
      }
      input.set(one, i * perFrame);
    });
    const outputs = await session.run({ features: new ort.Tensor('float32', input, [features.length, description.patches, description.hiddenSize]) });
    const embeds = outputs['image_embeds']!.data as Float32Array;
    const size = description.imageTokens * description.outHiddenSize;
    return features.map((_, i) => embeds.slice(i * size, (i + 1) * size));
  }

  /**
   * Embeddings for every request: one tail run per model, a request whose
   * features have the wrong size failing alone instead of failing its batch.
   */
  async runRequests(requests: readonly AnswerRequest[]): Promise<TailResult[]> {
    const results: TailResult[] = new Array(requests.length);
    const byModel = new Map<string, number[]>();
    requests.forEach((request, i) => {
      const { tokens, hiddenSize } = request.manifest.target;
      if (request.features.length !== tokens * hiddenSize) {
        results[i] = { error: new AnswererError('bad-shape', `features hold ${request.features.length} values, model ${request.manifest.name} predicts ${tokens}x${hiddenSize} = ${tokens * hiddenSize}`) };
        return;
      }
      byModel.set(request.manifest.modelId, [...(byModel.get(request.manifest.modelId) ?? []), i]);
    });
    for (const indexes of byModel.values()) {
      const started = performance.now();
      try {
        const embeds = await this.run(requests[indexes[0]!]!.manifest, indexes.map((i) => requests[i]!.features));
        const tailMs = (performance.now() - started) / indexes.length;
        indexes.forEach((i, k) => (results[i] = { embeds: embeds[k]!, tailMs }));
      } catch (error) {
        for (const i of indexes) results[i] = { error: error as Error };
      }
    }
    return results;
  }

  async close(): Promise<void> {
    const open = [...this.#open.values()];
    this.#open.clear();
    for (const tail of await Promise.allSettled(open)) {
      if (tail.status === 'fulfilled') await tail.value.session.release();
    }
  }
}
