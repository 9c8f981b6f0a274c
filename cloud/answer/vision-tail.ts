/**
 * Runs vision tails (models/qwen.py tail): features after L blocks (the seed's
 * split layer; the tail resumes at block L) -> merged image embeddings, one ONNX session per (split layer, grid), opened on first use
 * and shared by every SplitOculo model that needs it. JPEG frames take the
 * whole tower instead (models/qwen.py vision), one session per grid, opened
 * on the first JPEG frame. fp32 throughout: Qwen's vision tower overflows in fp16.
 */
import * as ort from 'onnxruntime-node';
import type { Manifest } from '../../protocol/manifest/schema.ts';
import type { AnswerRequest } from './answerer.ts';
import { AnswererError } from './errors.ts';
import { findTail, tailBaseName, type QwenFolder, type TailDescription } from './qwen-folder.ts';
import { encoderBaseName, findVisionEncoder, jpegToPatches, type EncoderDescription } from './qwen-pixels.ts';

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

interface OpenEncoder {
  description: EncoderDescription;
  session: ort.InferenceSession;
}

export class VisionTails {
  readonly #folder: QwenFolder;
  readonly #options: TailOptions;
  readonly #open = new Map<string, Promise<OpenTail>>();
  readonly #encoders = new Map<string, Promise<OpenEncoder>>();

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
    return { description, session: await this.#session(description.path) };
  }

  /** The whole tower for a grid, opened (once) on the first JPEG frame. */
  prepareEncoder(grid: readonly number[]): Promise<OpenEncoder> {
    const key = encoderBaseName(grid);
    let encoder = this.#encoders.get(key);
    if (!encoder) {
      encoder = (async () => {
        const description = await findVisionEncoder(this.#folder, grid);
        return { description, session: await this.#session(description.path) };
      })();
      this.#encoders.set(key, encoder);
      encoder.catch(() => this.#encoders.delete(key));
    }
    return encoder;
  }

  async #session(path: string): Promise<ort.InferenceSession> {
    try {
      return await ort.InferenceSession.create(path, {
        executionProviders: this.#options.executionProviders ?? ['cpu'],
        intraOpNumThreads: this.#options.intraOpThreads ?? 0,
        graphOptimizationLevel: 'all',
      });
    } catch (error) {
      throw new AnswererError('model-files', `${path}: onnxruntime cannot load it (${(error as Error).message})`);
    }
  }

  /** Image embeddings for images already turned into pixel patches (all of one grid): one batched run of the whole tower. */
  async runPatches(grid: readonly number[], patches: readonly Float32Array[]): Promise<Float32Array[]> {
    const { description, session } = await this.prepareEncoder(grid);
    const perFrame = description.patches * description.patchDim;
    const input = new Float32Array(patches.length * perFrame);
    for (const [i, one] of patches.entries()) input.set(one, i * perFrame);
    const outputs = await session.run({ pixel_values: new ort.Tensor('float32', input, [patches.length, description.patches, description.patchDim]) });
    const embeds = outputs.image_embeds!.data as Float32Array;
    const size = description.imageTokens * description.outHiddenSize;
    return patches.map((_, i) => embeds.slice(i * size, (i + 1) * size));
  }

  /** Image embeddings [imageTokens x outHiddenSize] for each frame's features (all for one model). */
  async run(manifest: Manifest, features: readonly Float32Array[]): Promise<Float32Array[]> {
    const { description, session } = await this.prepare(manifest);
    const perFrame = description.patches * description.featureWidth;
    const input = new Float32Array(features.length * perFrame);
    features.forEach((one, i) => {
      if (one.length !== perFrame) {
        throw new AnswererError('bad-shape', `features hold ${one.length} values, the tail ${description.file} takes ${description.patches}x${description.featureWidth} = ${perFrame}`);
      }
      input.set(one, i * perFrame);
    });
    const outputs = await session.run({ features: new ort.Tensor('float32', input, [features.length, description.patches, description.featureWidth]) });
    const embeds = outputs.image_embeds!.data as Float32Array;
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
    const byGrid = new Map<string, number[]>();
    requests.forEach((request, i) => {
      if (request.jpeg) {
        const grid = request.manifest.target.gridThw.join('x');
        byGrid.set(grid, [...(byGrid.get(grid) ?? []), i]);
        return;
      }
      const { tokens, hiddenSize } = request.manifest.target;
      if (request.features.length !== tokens * hiddenSize) {
        results[i] = {
          error: new AnswererError('bad-shape', `features hold ${request.features.length} values, model ${request.manifest.name} predicts ${tokens}x${hiddenSize} = ${tokens * hiddenSize}`),
        };
        return;
      }
      byModel.set(request.manifest.modelId, [...(byModel.get(request.manifest.modelId) ?? []), i]);
    });
    for (const indexes of byModel.values()) {
      const started = performance.now();
      try {
        const embeds = await this.run(
          requests[indexes[0]!]!.manifest,
          indexes.map((i) => requests[i]!.features!),
        );
        const tailMs = (performance.now() - started) / indexes.length;
        for (const [k, i] of indexes.entries()) results[i] = { embeds: embeds[k]!, tailMs };
      } catch (error) {
        for (const i of indexes) results[i] = { error: error as Error };
      }
    }
    for (const indexes of byGrid.values()) {
      const started = performance.now();
      const grid = requests[indexes[0]!]!.manifest.target.gridThw;
      // Each image is decoded on its own, so a corrupt JPEG fails alone.
      const decoded: Array<{ i: number; patches: Float32Array }> = [];
      for (const i of indexes) {
        try {
          const { description } = await this.prepareEncoder(grid);
          decoded.push({ i, patches: await jpegToPatches(requests[i]!.jpeg!, description) });
        } catch (error) {
          results[i] = { error: error as Error };
        }
      }
      if (decoded.length === 0) continue;
      try {
        const embeds = await this.runPatches(
          grid,
          decoded.map((d) => d.patches),
        );
        const tailMs = (performance.now() - started) / indexes.length;
        for (const [k, { i }] of decoded.entries()) results[i] = { embeds: embeds[k]!, tailMs };
      } catch (error) {
        for (const { i } of decoded) results[i] = { error: error as Error };
      }
    }
    return results;
  }

  async close(): Promise<void> {
    const open = [...this.#open.values(), ...this.#encoders.values()];
    this.#open.clear();
    this.#encoders.clear();
    for (const tail of await Promise.allSettled(open)) {
      if (tail.status === 'fulfilled') await tail.value.session.release();
    }
  }
}
