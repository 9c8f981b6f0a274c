/** Runs edge.onnx: one normalised image tensor in, 49 x D bottleneck tokens out. */
import * as ort from 'onnxruntime-node';
import type { LoadedModel } from '../../protocol/manifest/load.ts';
import { openSession, type SessionOptions } from '../../protocol/manifest/onnx-session.ts';

export class EdgeEncoder {
  readonly #session: ort.InferenceSession;
  readonly #inputName: string;
  readonly #outputName: string;
  readonly #imageSize: number;
  readonly tokenCount: number;
  readonly tokenWidth: number;

  private constructor(session: ort.InferenceSession, model: LoadedModel, inputName: string, outputName: string) {
    this.#session = session;
    this.#inputName = inputName;
    this.#outputName = outputName;
    this.#imageSize = model.manifest.preprocess.crop.width;
    this.tokenCount = model.manifest.tokens.count;
    this.tokenWidth = model.manifest.tokens.width;
  }

  static async open(model: LoadedModel, options: SessionOptions = {}): Promise<EdgeEncoder> {
    const { session, inputName, outputName } = await openSession(model, 'edge', options);
    return new EdgeEncoder(session, model, inputName, outputName);
  }

  async encode(image: Float32Array): Promise<Float32Array> {
    const size = this.#imageSize;
    const input = new ort.Tensor('float32', image, [1, 3, size, size]);
    const outputs = await this.#session.run({ [this.#inputName]: input });
    const tokens = outputs[this.#outputName]!;
    const expected = this.tokenCount * this.tokenWidth;
    if (tokens.data.length !== expected) {
      throw new Error(`edge.onnx produced ${tokens.dims.join('x')}, the manifest promises 1x${this.tokenCount}x${this.tokenWidth}`);
    }
    return tokens.data as Float32Array;
  }

  async close(): Promise<void> {
    await this.#session.release();
  }
}
