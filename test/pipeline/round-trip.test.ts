// Every sample frame through the whole contract: image -> edge tokens -> wire
// frame -> decoded tokens -> cloud features, with real sharp and onnxruntime.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CloudDecoder } from '../../cloud/pipeline/cloud-decoder.ts';
import { FrameEncoder } from '../../daemon/pipeline/frame-encoder.ts';
import { ImageError } from '../../daemon/pipeline/preprocess.ts';
import { loadModel } from '../../protocol/manifest/load.ts';
import { compareTensors } from '../../protocol/tensor-compare.ts';
import { FrameIdGenerator } from '../../protocol/wire/frame-id.ts';
import { decodeNeuralFrame } from '../../protocol/wire/frame.ts';
import { dequantise, quantisationErrorBound, type QuantisedTokens } from '../../protocol/wire/quantise.ts';
import { FRAMES_DIR, TINY_MODEL_DIR } from '../helpers/paths.ts';

const ids = new FrameIdGenerator();
const meta = (sequence: number) => ({
  deviceId: 'roundtrip-cam',
  frameId: ids.next(),
  sequence,
  captureTimeMs: Date.now(),
  clockUnreliable: false,
  prompt: 'What is in the picture?',
});

describe('round trip on the sample frames', async () => {
  const samples = (await readdir(FRAMES_DIR)).filter((f) => /\.(png|jpe?g)$/.test(f) && f !== 'truncated.jpg').sort();
  let encoder: FrameEncoder;
  let perToken: FrameEncoder;
  let decoder: CloudDecoder;

  before(async () => {
    const model = await loadModel(TINY_MODEL_DIR, ['edge', 'cloud']);
    encoder = await FrameEncoder.open(model, { intraOpThreads: 1, scheme: 'per-tensor' });
    perToken = await FrameEncoder.open(model, { intraOpThreads: 1, scheme: 'per-token' });
    decoder = await CloudDecoder.open(model, { intraOpThreads: 1 });
  });
  after(async () => {
    await encoder.close();
    await perToken.close();
    await decoder.close();
  });

  it('has the nine readable samples', () => assert.equal(samples.length, 9));

  for (const [index, name] of samples.entries()) {
    it(`${name}: tokens survive the wire within the quantisation bound`, async () => {
      for (const enc of [encoder, perToken]) {
        const frame = await enc.encode(join(FRAMES_DIR, name), meta(index), name);
        const decoded = decodeNeuralFrame(frame.bytes);
        assert.equal(decoded.deviceId, 'roundtrip-cam');
        assert.equal(decoded.modelId, enc.model.manifest.modelId);
        assert.equal(decoded.tokens.scheme, enc.scheme);
        const restored = dequantise(decoded.tokens);
        assertWithinBound(frame.tokens, restored, decoded.tokens);

        // Cloud features from the wire tokens against features from the exact tokens.
        const [fromWire, fromExact] = [...(await decoder.decode([decoded.tokens])), ...(await decoder.decodeFloat([frame.tokens]))];
        assert.equal(fromWire!.length, 256 * decoder.model.manifest.target.hiddenSize);
        const agreement = compareTensors(fromWire!, fromExact!);
        assert.ok(agreement.cosine > 0.99, `${name}: cloud features cosine ${agreement.cosine}`);
      }
    });
  }

  it('refuses the truncated JPEG with an ImageError naming it', async () => {
    await assert.rejects(
      encoder.encode(join(FRAMES_DIR, 'truncated.jpg'), meta(99), 'truncated.jpg'),
      (e: unknown) => e instanceof ImageError && /^truncated\.jpg: not a decodable image \(/.test(e.message) && !e.message.includes('\n'),
    );
  });
});

function assertWithinBound(original: Float32Array, restored: Float32Array, tokens: QuantisedTokens): void {
  const groupSize = original.length / tokens.params.scales.length;
  for (let i = 0; i < original.length; i++) {
    const g = Math.floor(i / groupSize);
    const group = original.subarray(g * groupSize, (g + 1) * groupSize);
    const bound = quantisationErrorBound(tokens.params.scales[g]!, tokens.params.zeroPoints[g]!, Math.max(...Array.from(group, Math.abs)));
    const error = Math.abs(original[i]! - restored[i]!);
    if (error > bound) assert.fail(`value ${i}: error ${error} exceeds the bound ${bound}`);
  }
}
