/**
 * Runs edge.onnx: one normalised image tensor in, N x D bottleneck tokens out.
 * The session lives in a worker thread (encoder-worker.ts): onnxruntime-node
 * blocks the thread it runs on for the whole inference (about 120 ms on a
 * Rock 5B), which must not be the thread serving MQTT and the outbox.
 */
import { Worker } from 'node:worker_threads';
import type { LoadedModel } from '../../protocol/manifest/load.ts';
import { ManifestError } from '../../protocol/manifest/load.ts';
import type { SessionOptions } from '../../protocol/manifest/onnx-session.ts';
import { embeddedText, isSingleBinary } from '../../runtime/sea.ts';
import type { EncoderReply, EncoderRequest, EncoderWorkerData } from './encoder-worker.ts';
import { UserError } from '../../protocol/errors.ts';

export class EncoderError extends UserError {
  override readonly name = 'EncoderError';
}

export class EdgeEncoder {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (tokens: Float32Array) => void; reject: (error: Error) => void }>();
  #nextId = 0;
  #failure: Error | null = null;
  readonly tokenCount: number;
  readonly tokenWidth: number;
  readonly #imageValues: number;

  private constructor(worker: Worker, model: LoadedModel) {
    this.#worker = worker;
    this.tokenCount = model.manifest.tokens.count;
    this.tokenWidth = model.manifest.tokens.width;
    this.#imageValues = 3 * model.manifest.preprocess.crop.width * model.manifest.preprocess.crop.height;
    worker.on('message', (reply: EncoderReply) => {
      const waiter = this.#pending.get(reply.id);
      if (!waiter) return;
      this.#pending.delete(reply.id);
      if ('error' in reply) waiter.reject(new EncoderError(`edge model: ${reply.error}`));
      else if ('tokens' in reply) waiter.resolve(new Float32Array(reply.tokens));
    });
    worker.on('error', (error) => this.#fail(new EncoderError(`edge model worker failed: ${error.message}`)));
    worker.on('exit', (code) => this.#fail(new EncoderError(`edge model worker exited (code ${code})`)));
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const waiter of this.#pending.values()) waiter.reject(error);
    this.#pending.clear();
  }

  static async open(model: LoadedModel, options: SessionOptions = {}): Promise<EdgeEncoder> {
    const workerData: EncoderWorkerData & { nativeDir?: string } = { model, options };
    // The single binary carries the worker's code as an embedded asset, not as a file.
    const worker = isSingleBinary()
      ? new Worker(embeddedText('encoder-worker.cjs'), { eval: true, workerData: { ...workerData, nativeDir: globalThis.__splitoculoNative?.dir } })
      : new Worker(new URL('./encoder-worker.ts', import.meta.url), { workerData });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (reply: EncoderReply) => {
        if (reply.id !== -1) return;
        worker.off('message', onMessage);
        if ('error' in reply) {
          void worker.terminate();
          reject(new ManifestError(reply.error));
        } else resolve();
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
    return new EdgeEncoder(worker, model);
  }

  /** Tokens for one image. The input array is transferred to the worker and unusable afterwards. */
  async encode(image: Float32Array): Promise<Float32Array> {
    if (this.#failure) throw this.#failure;
    if (image.length !== this.#imageValues) throw new EncoderError(`edge model takes ${this.#imageValues} values, got ${image.length}`);
    const id = this.#nextId++;
    const buffer = image.byteOffset === 0 && image.byteLength === image.buffer.byteLength ? image.buffer : image.slice().buffer;
    const tokens = await new Promise<Float32Array>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, image: buffer as ArrayBuffer } satisfies EncoderRequest, [buffer as ArrayBuffer]);
    });
    const expected = this.tokenCount * this.tokenWidth;
    if (tokens.length !== expected) throw new EncoderError(`edge.onnx produced ${tokens.length} values, the manifest promises ${this.tokenCount}x${this.tokenWidth}`);
    return tokens;
  }

  async close(): Promise<void> {
    if (this.#failure) return;
    const id = this.#nextId++;
    const closed = new Promise<Float32Array>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    this.#worker.postMessage({ id, close: true } satisfies EncoderRequest);
    await closed.catch(() => undefined);
    this.#failure = new EncoderError('edge model closed');
    await this.#worker.terminate();
  }
}
