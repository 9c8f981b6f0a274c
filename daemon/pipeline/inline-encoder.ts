/**
 * `model.thread: main` (encoder.ts): edge.onnx on the calling thread. No
 * worker isolate and no hand-over between threads: the caller's tensor is
 * wrapped as the session's input as it is (onnxruntime reads it in place, no
 * copy). onnxruntime-node's run blocks this thread for the whole inference,
 * so while it runs nothing else in the daemon moves (hence one frame at a
 * time, queued like the worker's).
 */
import * as ort from 'onnxruntime-node';
import type { LoadedModel } from '../../protocol/manifest/load.ts';
import { openSession, type SessionOptions } from '../../protocol/manifest/onnx-session.ts';
import { type Encoder, EncoderError } from './encoder.ts';

export class InlineEncoder implements Encoder {
  readonly #session: ort.InferenceSession;
  readonly #inputName: string;
  readonly #outputName: string;
  readonly #dims: readonly number[];
  readonly #inputLength: number;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  readonly tokenCount: number;
  readonly tokenWidth: number;

  private constructor(model: LoadedModel, opened: Awaited<ReturnType<typeof openSession>>) {
    const { width, height } = model.manifest.preprocess.crop;
    this.#session = opened.session;
    this.#inputName = opened.inputName;
    this.#outputName = opened.outputName;
    this.#dims = [1, 3, height, width];
    this.#inputLength = 3 * width * height;
    this.tokenCount = model.manifest.tokens.count;
    this.tokenWidth = model.manifest.tokens.width;
  }

  static async open(model: LoadedModel, options: SessionOptions = {}): Promise<InlineEncoder> {
    return new InlineEncoder(model, await openSession(model, 'edge', { lowMemory: true, ...options }));
  }

  encode(image: Float32Array): Promise<Float32Array> {
    const run = this.#queue.then(() => this.#encodeNow(image));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #encodeNow(image: Float32Array): Promise<Float32Array> {
    if (this.#closed) throw new EncoderError('edge model closed');
    if (image.length !== this.#inputLength) throw new EncoderError(`edge model takes ${this.#inputLength} values, got ${image.length}`);
    let tokens: Float32Array;
    try {
      const feeds = { [this.#inputName]: new ort.Tensor('float32', image, this.#dims) };
      tokens = (await this.#session.run(feeds))[this.#outputName]!.data as Float32Array;
    } catch (error) {
      throw new EncoderError(`edge model: ${(error as Error).message}`);
    }
    const expected = this.tokenCount * this.tokenWidth;
    if (tokens.length > expected) throw new EncoderError(`edge model: produced ${tokens.length} values, more than the ${expected} the manifest promises`);
    return tokens;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#queue;
    this.#closed = true;
    await this.#session.release();
  }
}
