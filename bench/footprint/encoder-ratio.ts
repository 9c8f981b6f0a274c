/**
 * The daemon's encoder (daemon/pipeline/encoder.ts, on either thread) against
 * a bare onnxruntime session.run on the calling thread, same model, same
 * session options (the daemon's low-memory ones), same thread count, timed
 * pair by pair in the same run. The input is made before the clock starts in both: what is timed
 * is the encoder's own overhead (messages, tensor wrapping, the reply), not
 * the making of test data.
 */
import * as ort from 'onnxruntime-node';
import type { EncoderThread } from '../../daemon/pipeline/encoder.ts';
import { openEncoder } from '../../daemon/pipeline/frame-encoder.ts';
import { loadModel } from '../../protocol/manifest/load.ts';
import { openSession } from '../../protocol/manifest/onnx-session.ts';
import { paired, type StageCost } from '../stages/paired.ts';

export async function encoderRatio(modelDir: string, pairs: number, thread: EncoderThread, threads = 1): Promise<StageCost & { minRatio: number; thread: EncoderThread }> {
  const model = await loadModel(modelDir, ['edge']);
  const { width, height } = model.manifest.preprocess.crop;
  const template = new Float32Array(3 * width * height).map((_, k) => Math.sin(k));
  const encoder = await openEncoder(model, { intraOpThreads: threads, thread });
  const bare = await openSession(model, 'edge', { intraOpThreads: threads, lowMemory: true });
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
      `encode, ${threads} thread (daemon's encoder, model.thread: ${thread})`,
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
    return { ...cost, minRatio: best.stage / best.reference, thread };
  } finally {
    await encoder.close();
    await bare.session.release();
  }
}

if (import.meta.main) {
  for (const thread of ['main', 'worker'] as const) console.log(JSON.stringify(await encoderRatio(process.argv[2] ?? '.cache/models/full', Number(process.argv[3] ?? 30), thread)));
}
