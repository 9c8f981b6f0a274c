// Cloud decode throughput with a given model (default: the full preset in
// .cache/models/full, `make models-full`): frames/s through dequantise +
// cloud.onnx + rescale, one frame per run against batches of --batch, in
// alternating rounds of the same run (this machine is shared and noisy), and
// their ratio. The language model is left out: it dominates and is
// measured by the demo and the answerer timings.
//   node bench/cloud-throughput.ts [--model DIR] [--batch 8] [--rounds 5] [--frames 32] [--threads 0]
import { parseArgs } from 'node:util';
import { CloudDecoder } from '../cloud/pipeline/cloud-decoder.ts';
import { loadModel } from '../protocol/manifest/load.ts';
import { quantise } from '../protocol/wire/quantise.ts';

const { values } = parseArgs({ options: {
  model: { type: 'string', default: '.cache/models/full' }, batch: { type: 'string', default: '8' },
  rounds: { type: 'string', default: '5' }, frames: { type: 'string', default: '32' }, threads: { type: 'string', default: '0' },
} });
const batch = Number(values.batch);
const framesPerRound = Number(values.frames);
const model = await loadModel(values.model!, ['cloud']);
const decoder = await CloudDecoder.open(model, { intraOpThreads: Number(values.threads) });
const { count, width } = model.manifest.tokens;
let state = 1;
const random = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 4 - 2;
const frames = Array.from({ length: framesPerRound }, () => quantise(Float32Array.from({ length: count * width }, random), count, width, 'per-tensor'));

async function round(size: number): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < frames.length; i += size) await decoder.decode(frames.slice(i, i + size));
  return frames.length / ((performance.now() - started) / 1000);
}

await round(1); // warm-up: allocations and kernel selection
await round(batch);
const single: number[] = [];
const batched: number[] = [];
for (let r = 0; r < Number(values.rounds); r++) {
  single.push(await round(1));
  batched.push(await round(batch));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`model ${model.manifest.name} (${model.manifest.modelId}): cloud.onnx ${count}x${width} -> ${model.manifest.target.tokens}x${model.manifest.target.hiddenSize}`);
console.log(`unbatched          ${median(single).toFixed(2)} frames/s (rounds: ${single.map((x) => x.toFixed(2)).join(', ')})`);
console.log(`batches of ${String(batch).padEnd(7)} ${median(batched).toFixed(2)} frames/s (rounds: ${batched.map((x) => x.toFixed(2)).join(', ')})`);
console.log(`batched / unbatched ${(median(batched) / median(single)).toFixed(2)}x (median of per-round ratios ${median(batched.map((b, i) => b / single[i]!)).toFixed(2)}x)`);
await decoder.close();
