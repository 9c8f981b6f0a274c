// One batch holding a neural frame and a JPEG frame: each takes its own vision
// path, and a cloud.onnx failure (forced: the real decoder cannot be made to
// fail on purpose) fails only the neural frame.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { LocalAnswerer } from '../../cloud/answer/local-answerer.ts';
import { CloudDecoder } from '../../cloud/pipeline/cloud-decoder.ts';
import { processBatch, type FrameJob } from '../../cloud/worker/frame-processor.ts';
import { loadModel, type LoadedModel } from '../../protocol/manifest/load.ts';
import type { JpegFrame } from '../../protocol/wire/frame.ts';
import { sampleFrame } from '../helpers/frames.ts';
import { FRAMES_DIR, TINY_MODEL_DIR, TINY_QWEN_DIR } from '../helpers/paths.ts';

let model: LoadedModel;
let decoder: CloudDecoder;
let answerer: LocalAnswerer;
let jobs: (served: FrameJob['served']) => FrameJob[];

before(async () => {
  model = await loadModel(TINY_MODEL_DIR, ['cloud']);
  decoder = await CloudDecoder.open(model);
  answerer = await LocalAnswerer.open({ qwen: TINY_QWEN_DIR, device: 'cpu', dtype: 'fp32', maxPromptTokens: 128, maxNewTokens: 3, stopTokens: ['<|im_end|>'] });
  const neural = { ...sampleFrame({ prompt: 'What is it?' }), modelId: model.manifest.modelId };
  const jpeg = await sharp(readFileSync(join(FRAMES_DIR, 'horse.png')))
    .resize(224, 224)
    .jpeg({ quality: 85 })
    .toBuffer();
  const { tokens: _tokens, ...header } = neural;
  const image: JpegFrame = { ...header, codec: 'jpeg', sequence: 43, image: { width: 224, height: 224, jpeg: Uint8Array.from(jpeg) } };
  jobs = (served) => [neural, image].map((frame) => ({ deviceId: frame.deviceId, frame, served, decodeMs: 0.1, receivedAt: performance.now(), deadline: Date.now() + 60_000 }));
});
after(async () => {
  await answerer.close();
  await decoder.close();
});

describe('a batch of mixed codecs', () => {
  it('answers both, the neural frame through cloud.onnx and the tail, the JPEG frame through the whole tower', { timeout: 60_000 }, async () => {
    const [neural, jpeg] = await processBatch(jobs({ model, decoder }), { answerer, defaultPrompt: 'Describe.', workerId: 'w' });
    assert.equal(neural!.error, undefined, JSON.stringify(neural));
    assert.equal(jpeg!.error, undefined, JSON.stringify(jpeg));
    assert.ok(neural!.timings.cloudMs! > 0 && neural!.timings.tailMs! > 0);
    assert.equal(jpeg!.timings.cloudMs, undefined);
    assert.ok(jpeg!.timings.tailMs! > 0);
  });

  it('fails only the neural frame when cloud.onnx fails', { timeout: 60_000 }, async () => {
    const failing = { decode: async () => Promise.reject(new Error('out of memory')) } as unknown as CloudDecoder;
    const [neural, jpeg] = await processBatch(jobs({ model, decoder: failing }), { answerer, defaultPrompt: 'Describe.', workerId: 'w' });
    assert.equal(neural!.error?.code, 'answerer-failed');
    assert.match(neural!.error!.message, /cloud network failed: out of memory/);
    assert.equal(jpeg!.error, undefined, JSON.stringify(jpeg));
    assert.equal(typeof jpeg!.text, 'string');
  });
});
