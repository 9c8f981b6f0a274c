/**
 * Cloud stage costs, against the bare onnxruntime session.run of cloud.onnx
 * (one frame) timed in the same run: dequantise, the decoder unbatched and in
 * batches, the vision tail (features -> image embeddings) and, for JPEG
 * frames, Qwen's whole vision tower (decode + patches + tower).
 */
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { openQwenFolder } from '../../cloud/answer/qwen-folder.ts';
import { jpegToPatches } from '../../cloud/answer/qwen-pixels.ts';
import { VisionTails } from '../../cloud/answer/vision-tail.ts';
import { CloudDecoder } from '../../cloud/pipeline/cloud-decoder.ts';
import { loadModel } from '../../protocol/manifest/load.ts';
import { openSession } from '../../protocol/manifest/onnx-session.ts';
import { dequantise, quantise } from '../../protocol/wire/quantise.ts';
import { paired, type StageCost } from './paired.ts';

export interface CloudStageOptions {
  modelDir: string;
  /** Qwen folders with vision tails (and whole-tower graphs) for the model's split layer, with a label each. */
  qwen: ReadonlyArray<{ dir: string; label: string }>;
  sample: string;
  pairs: number;
  batch: number;
}

export async function cloudStages(o: CloudStageOptions): Promise<StageCost[]> {
  const model = await loadModel(o.modelDir, ['cloud']);
  const { count, width } = model.manifest.tokens;
  const bare = await openSession(model, 'cloud', {});
  const decoder = await CloudDecoder.open(model, {});
  const tokens = quantise(
    Float32Array.from({ length: count * width }, (_, i) => Math.sin(i * 0.37) * 2),
    count,
    width,
    'per-tensor',
  );
  const input = new ort.Tensor('float32', dequantise(tokens), [1, count, width]);
  const reference = () => bare.session.run({ [bare.inputName]: input });
  const ref = 'bare session.run of cloud.onnx, 1 frame';
  const costs: StageCost[] = [];
  costs.push(await paired('cloud', 'dequantise', ref, o.pairs, reference, () => dequantise(tokens)));
  costs.push(await paired('cloud', 'cloud.onnx unbatched (decoder, with rescale)', ref, o.pairs, reference, () => decoder.decode([tokens])));
  const batch = Array.from({ length: o.batch }, () => tokens);
  const batched = await paired('cloud', `cloud.onnx in batches of ${o.batch}, per frame`, ref, Math.max(2, Math.ceil(o.pairs / 2)), reference, () => decoder.decode(batch));
  costs.push({ ...batched, medianMs: batched.medianMs / o.batch, ratio: batched.ratio / o.batch });
  const [features] = await decoder.decode([tokens]);
  const jpeg = Uint8Array.from(await sharp(readFileSync(o.sample)).resize(224, 224).jpeg({ quality: 85 }).toBuffer());
  for (const qwen of o.qwen) {
    const folder = await openQwenFolder(qwen.dir);
    const tails = new VisionTails(folder, { intraOpThreads: 0 });
    // Big towers take seconds a run: fewer pairs, still paired with the reference.
    const pairs = qwen.label.includes('3B') ? Math.min(o.pairs, 3) : o.pairs;
    costs.push(await paired('cloud', `vision tail after L=${model.manifest.splitLayer} (${qwen.label})`, ref, pairs, reference, () => tails.run(model.manifest, [features!])));
    const { description } = await tails.prepareEncoder(model.manifest.target.gridThw);
    costs.push(await paired('cloud', `JPEG frame: decode + pixel patches (${qwen.label})`, ref, o.pairs, reference, () => jpegToPatches(jpeg, description)));
    const patches = await jpegToPatches(jpeg, description);
    costs.push(await paired('cloud', `JPEG frame: whole vision tower (${qwen.label})`, ref, pairs, reference, () => tails.runPatches(model.manifest.target.gridThw, [patches])));
    await tails.close();
  }
  await decoder.close();
  await bare.session.release();
  return costs;
}
