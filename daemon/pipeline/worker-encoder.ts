/**
 * `model.thread: worker` (encoder.ts): edge.onnx in a worker thread
 * (encoder-worker.ts). onnxruntime-node blocks the thread it runs on for the
 * whole inference; here that is not the thread serving MQTT and the outbox,
 * for models slow enough on a board that this matters more than the isolate's
 * memory (18.8 MB, bench/results/footprint.md).
 *
 * The two threads share the input tensor, the output tokens and a control
 * word (SharedArrayBuffers made once): a frame costs one copy of the tensor
 * into the shared input (0.6 MB, tens of microseconds) and an Atomics wake-up,
 * not a structured-clone message each way. One frame at a time: a second
 * encode() waits for the first. The worker's V8 heap is capped: it holds
 * nothing but the session's wrapper objects.
 */
import { Worker } from 'node:worker_threads';
import type { LoadedModel } from '../../protocol/manifest/load.ts';
import { ManifestError } from '../../protocol/manifest/load.ts';
import type { SessionOptions } from '../../protocol/manifest/onnx-session.ts';
import { embeddedText, isSingleBinary } from '../../runtime/sea.ts';
import { type Encoder, EncoderError } from './encoder.ts';
import { CLOSE, ERROR_BYTES, REPLY, REQUEST, STATUS, type EncoderReply, type EncoderWorkerData } from './encoder-worker.ts';

/**
 * The worker isolate's V8 limits (MB): its heap holds a few wrapper objects,
 * not frames, so a small young generation is enough. The old generation keeps
 * room for Node's own start-up (the TypeScript stripper when run from the
 * sources): a heap near its limit collects without end instead of failing.
 */
const WORKER_LIMITS = { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 4 };

export class WorkerEncoder implements Encoder {
  readonly #worker: Worker;
  readonly #control: Int32Array;
  readonly #input: Float32Array;
  readonly #output: Float32Array;
  readonly #errorText: Uint8Array;
  #queue: Promise<unknown> = Promise.resolve();
  #failure: Error | null = null;
  readonly tokenCount: number;
  readonly tokenWidth: number;

  private constructor(worker: Worker, model: LoadedModel, shared: EncoderWorkerData) {
    this.#worker = worker;
    this.tokenCount = model.manifest.tokens.count;
    this.tokenWidth = model.manifest.tokens.width;
    this.#control = new Int32Array(shared.control);
    this.#input = new Float32Array(shared.input);
    this.#output = new Float32Array(shared.output);
    this.#errorText = new Uint8Array(shared.error);
    worker.on('error', (error) => this.#fail(new EncoderError(`edge model worker failed: ${error.message}`)));
    worker.on('exit', (code) => this.#fail(new EncoderError(`edge model worker exited (code ${code})`)));
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    // Wake an encode() waiting on the reply counter: it sees the failure.
    Atomics.add(this.#control, REPLY, 0x10000);
    Atomics.notify(this.#control, REPLY);
  }

  static async open(model: LoadedModel, options: SessionOptions = {}): Promise<WorkerEncoder> {
    const { crop } = model.manifest.preprocess;
    const shared: EncoderWorkerData = {
      // The daemon's session options: no memory pattern, the arena as model.arena says (onnx-session.ts).
      model,
      options: { lowMemory: true, ...options },
      control: new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT),
      input: new SharedArrayBuffer(3 * crop.width * crop.height * Float32Array.BYTES_PER_ELEMENT),
      output: new SharedArrayBuffer(model.manifest.tokens.count * model.manifest.tokens.width * Float32Array.BYTES_PER_ELEMENT),
      error: new SharedArrayBuffer(ERROR_BYTES),
    };
    // The single binary carries the worker's code as an embedded asset, not as a file.
    const worker = isSingleBinary()
      ? new Worker(embeddedText('encoder-worker.cjs'), { eval: true, resourceLimits: WORKER_LIMITS, workerData: { ...shared, nativeDir: globalThis.__splitoculoNative?.dir } })
      : new Worker(new URL('./encoder-worker.ts', import.meta.url), { resourceLimits: WORKER_LIMITS, workerData: shared });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (reply: EncoderReply) => {
        worker.off('message', onMessage);
        if ('error' in reply) {
          void worker.terminate();
          reject(new ManifestError(reply.error));
        } else resolve();
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
    return new WorkerEncoder(worker, model, shared);
  }

  /** Tokens for one image (a fresh array; the input is copied and stays the caller's). */
  encode(image: Float32Array): Promise<Float32Array> {
    const run = this.#queue.then(() => this.#encodeNow(image));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #encodeNow(image: Float32Array): Promise<Float32Array> {
    if (this.#failure) throw this.#failure;
    if (image.length !== this.#input.length) throw new EncoderError(`edge model takes ${this.#input.length} values, got ${image.length}`);
    this.#input.set(image);
    const reply = Atomics.load(this.#control, REPLY);
    const request = Atomics.add(this.#control, REQUEST, 1) + 1;
    Atomics.notify(this.#control, REQUEST);
    while (Atomics.load(this.#control, REPLY) === reply) {
      const wait = Atomics.waitAsync(this.#control, REPLY, reply);
      if (wait.async) await wait.value;
      if (this.#failure) throw this.#failure;
    }
    if (this.#failure) throw this.#failure;
    if (Atomics.load(this.#control, REPLY) !== request) throw new EncoderError('edge model worker answered out of turn');
    if (Atomics.load(this.#control, STATUS) !== 0) {
      const text = new TextDecoder().decode(this.#errorText.slice()).replace(/\0+$/, '');
      throw new EncoderError(`edge model: ${text}`);
    }
    return this.#output.slice();
  }

  async close(): Promise<void> {
    if (this.#failure) return;
    await this.#queue;
    const closed = new Promise<void>((resolve) => this.#worker.once('message', () => resolve()));
    Atomics.store(this.#control, CLOSE, 1);
    Atomics.add(this.#control, REQUEST, 1);
    Atomics.notify(this.#control, REQUEST);
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2000).unref())]);
    this.#failure = new EncoderError('edge model closed');
    await this.#worker.terminate();
  }
}
