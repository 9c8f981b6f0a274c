/**
 * Wire tokens -> predicted layer-L vision features: dequantise, run
 * cloud.onnx (several frames in one batch), apply the manifest's rescale.
 */
import * as ort from 'onnxruntime-node';
import type { LoadedModel } from '../../protocol/manifest/load.ts';
import { openSession, type SessionOptions } from '../../protocol/manifest/onnx-session.ts';
import { dequantise, type QuantisedTokens } from '../../protocol/wire/quantise.ts';
import { rescaleToTarget } from './rescale.ts';
import { UserError } from '../../protocol/errors.ts';

export class TokenShapeError extends UserError {
  override readonly name = 'TokenShapeError';
}

export class CloudDecoder {
  readonly model: LoadedModel;
  readonly #session: ort.InferenceSession;
  readonly #inputName: string;
  readonly #outputName: string;

  private constructor(model: LoadedModel, session: ort.InferenceSession, inputName: string, outputName: string) {
    this.model = model;
    this.#session = session;
    this.#inputName = inputName;
    this.#outputName = outputName;
  }

  static async open(model: LoadedModel, options: SessionOptions = {}): Promise<CloudDecoder> {
    const { session, inputName, outputName } = await openSession(model, 'cloud', options);
    return new CloudDecoder(model, session, inputName, outputName);
  }

  /** Features [target.tokens x target.hiddenSize] for each frame's tokens, in order. */
  async decode(batch: readonly QuantisedTokens[]): Promise<Float32Array[]> {
    const { count, width } = this.model.manifest.tokens;
    return this.decodeFloat(
      batch.map((tokens) => {
        if (tokens.count !== count || tokens.width !== width) {
          throw new TokenShapeError(`frame tokens are ${tokens.count}x${tokens.width}, model ${this.model.manifest.name} takes ${count}x${width}`);
        }
        return dequantise(tokens);
      }),
    );
  }

  /** The same from float tokens (already dequantised, or straight from edge.onnx). */
  async decodeFloat(batch: readonly Float32Array[]): Promise<Float32Array[]> {
    const { count, width } = this.model.manifest.tokens;
    const perFrame = count * width;
    const input = new Float32Array(batch.length * perFrame);
    batch.forEach((tokens, i) => {
      if (tokens.length !== perFrame) throw new TokenShapeError(`frame ${i} has ${tokens.length} token values, model takes ${count}x${width}`);
      input.set(tokens, i * perFrame);
    });
    const outputs = await this.#session.run({ [this.#inputName]: new ort.Tensor('float32', input, [batch.length, count, width]) });
    const features = outputs[this.#outputName]!.data as Float32Array;
    const { tokens: targetTokens, hiddenSize, rescale } = this.model.manifest.target;
    const size = targetTokens * hiddenSize;
    return batch.map((_, i) => {
      const one = features.subarray(i * size, (i + 1) * size);
      return rescale ? rescaleToTarget(one, rescale) : Float32Array.from(one);
    });
  }

  async close(): Promise<void> {
    await this.#session.release();
  }
}
