// Both ways of running the edge model (daemon/pipeline/encoder.ts), one suite:
// on the daemon's thread and in a worker (the tensor and tokens through shared
// memory). The caller keeps its input, concurrent calls are served in turn with
// their own tokens, and the tokens equal a bare session.run's.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { ENCODER_THREADS, type Encoder, EncoderError } from '../../daemon/pipeline/encoder.ts';
import { openEncoder } from '../../daemon/pipeline/frame-encoder.ts';
import { FrameMaker } from '../../daemon/pipeline/frame-maker.ts';
import { loadModel, type LoadedModel } from '../../protocol/manifest/load.ts';
import { openSession } from '../../protocol/manifest/onnx-session.ts';
import { TINY_MODEL_DIR } from '../helpers/paths.ts';

for (const thread of ENCODER_THREADS)
  describe(`encoder, model.thread: ${thread}`, () => {
    let model: LoadedModel;
    let encoder: Encoder;
    before(async () => {
      model = await loadModel(TINY_MODEL_DIR, ['edge']);
      encoder = await openEncoder(model, { intraOpThreads: 1, thread });
    });
    after(() => encoder.close());
    const image = (seed: number) => {
      const { width, height } = model.manifest.preprocess.crop;
      return new Float32Array(3 * width * height).map((_, k) => Math.sin(k * seed));
    };

    it('gives the tokens of a bare session.run, each call its own, the input left intact', async () => {
      const bare = await openSession(model, 'edge', { intraOpThreads: 1 });
      const { width, height } = model.manifest.preprocess.crop;
      const inputs = [image(1), image(2), image(3)];
      const copies = inputs.map((a) => a.slice());
      const tokens = await Promise.all(inputs.map((a) => encoder.encode(a)));
      for (let i = 0; i < inputs.length; i++) {
        assert.deepEqual(inputs[i], copies[i], 'the caller keeps its tensor');
        const expected = (await bare.session.run({ [bare.inputName]: new ort.Tensor('float32', copies[i]!, [1, 3, height, width]) }))[bare.outputName]!.data as Float32Array;
        assert.deepEqual(tokens[i], expected, `frame ${i}`);
      }
      assert.notDeepEqual(tokens[0], tokens[1]);
      await bare.session.release();
    });

    it('refuses a tensor of the wrong size and keeps serving', async () => {
      await assert.rejects(encoder.encode(new Float32Array(7)), EncoderError);
      assert.equal((await encoder.encode(image(4))).length, encoder.tokenCount * encoder.tokenWidth);
    });

    it('refuses work after close', async () => {
      const other = await openEncoder(model, { intraOpThreads: 1, thread });
      await other.close();
      await assert.rejects(other.encode(image(1)), EncoderError);
    });
  });

describe('model.thread reaches the encoder', () => {
  const threads = () => Number(/^Threads:\s+(\d+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
  it('worker starts a thread of its own, main none', async () => {
    const model = await loadModel(TINY_MODEL_DIR, ['edge']);
    const counts: Record<string, number> = {};
    for (const thread of ENCODER_THREADS) {
      const before = threads();
      const maker = await FrameMaker.open(model, { codec: 'neural', jpegQuality: 85, key: null, intraOpThreads: 1, thread, arena: thread === 'main' });
      counts[thread] = threads() - before;
      await maker.close();
    }
    assert.equal(counts.main, 0, JSON.stringify(counts));
    assert.ok(counts.worker! >= 1, JSON.stringify(counts));
  });
});
