/**
 * The daemon's encoder (edge-encoder.ts: the session in a worker thread, the
 * tensor transferred, not copied) against a bare onnxruntime session.run on
 * the calling thread, same model, same thread count, timed pair by pair in the
 * same run. The input is made before the clock starts in both: what is timed
 * is the encoder's own overhead (messages, tensor wrapping, the reply), not
 * the making of test data.
 */
import * as ort from 'onnxruntime-node';
import { EdgeEncoder } from '../../daemon/pipeline/edge-encoder.ts';
import { loadModel } from '../../protocol/manifest/load.ts';
import { openSession } from '../../protocol/manifest/onnx-session.ts';
import { paired, type StageCost } from '../stages/paired.ts';

export async function encoderRatio(modelDir: string, pairs: number, threads = 1): Promise<StageCost & { minRatio: number }> {
  const model = await loadModel(modelDir, ['edge']);
  const { width, height } = model.manifest.preprocess.crop;
  const template = new Float32Array(3 * width * height).map((_, k) => Math.sin(k));
  const encoder = await EdgeEncoder.open(model, { intraOpThreads: threads });
  const bare = await openSession(model, 'edge', { intraOpThreads: threads });
  try {
    const input = new ort.Tensor('float32', template, [1, 3, height, width]);
    // The daemon hands each frame's tensor over once; a fresh copy per pair, made untimed.
    let next = template.slice();
    const best = { stage: Infinity, reference: Infinity };
    const timed = async (key: keyof typeof best, run: () => Promise<unknown>) => {
      const started = performance.now();
      await run();
      best[key] = Math.min(best[key], performance.now() - started);
    };
    const cost = await paired(
      'edge',
      `encode, ${threads} thread (daemon's encoder)`,
      `bare session.run, ${threads} thread`,
      pairs,
      () => timed('reference', () => bare.session.run({ [bare.inputName]: input })),
      () =>
        timed('stage', async () => {
          const done = encoder.encode(next);
          next = template.slice();
          await done;
        }),
    );
    // On a shared machine the medians carry other people's load; the best of each is the cost itself.
    return { ...cost, minRatio: best.stage / best.reference };
  } finally {
    await encoder.close();
    await bare.session.release();
  }
}

if (import.meta.main) {
  console.log(JSON.stringify(await encoderRatio(process.argv[2] ?? '.cache/models/full', Number(process.argv[3] ?? 30))));
}
