// `make demo`: the encode -> wire -> decode round trip on the sample frames,
// with the committed tiny (untrained) models. Prints what happened to each frame.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { CloudDecoder } from '../cloud/pipeline/cloud-decoder.ts';
import { FrameEncoder } from '../daemon/pipeline/frame-encoder.ts';
import { defaultModelDir } from '../runtime/defaults.ts';
import { loadModel } from '../protocol/manifest/load.ts';
import { compareTensors } from '../protocol/tensor-compare.ts';
import { FrameIdGenerator } from '../protocol/wire/frame-id.ts';
import { decodeFrame } from '../protocol/wire/frame.ts';

const framesDir = fileURLToPath(new URL('../test/fixtures/frames', import.meta.url));
const model = await loadModel(process.env.SPLITOCULO_MODEL ?? defaultModelDir(), ['edge', 'cloud']);
const encoder = await FrameEncoder.open(model);
const decoder = await CloudDecoder.open(model);
const ids = new FrameIdGenerator();

console.log(`SplitOculo demo: model "${model.manifest.name}" (${model.manifest.modelId}), split layer ${model.manifest.splitLayer}`);
if (model.manifest.source?.kind === 'random') {
  console.log('The tiny models are UNTRAINED stand-ins: sizes and timings are real, the features are noise.');
  console.log('Point SPLITOCULO_MODEL at a folder made by models/export.py from real checkpoints to use real ones.\n');
}
const header = ['frame', 'file bytes', 'wire bytes', 'smaller', 'preprocess ms', 'encode ms', 'cloud ms', 'cos(wire, exact features)'];
const rows: string[][] = [];
let sequence = 0;
let failures = 0;
for (const name of (await readdir(framesDir)).filter((f) => /\.(png|jpe?g)$/.test(f)).sort()) {
  const path = join(framesDir, name);
  const imageBytes = (await stat(path)).size;
  try {
    const frame = await encoder.encode(path, {
      deviceId: 'demo-cam',
      frameId: ids.next(),
      sequence: sequence++,
      captureTimeMs: Date.now(),
      clockUnreliable: false,
      prompt: 'What is in this picture?',
    }, name);
    const decoded = decodeFrame(frame.bytes);
    const t0 = performance.now();
    const [wire] = await decoder.decode([decoded.tokens]);
    const cloudMs = performance.now() - t0;
    const [exact] = await decoder.decodeFloat([frame.tokens]);
    const { cosine } = compareTensors(wire!, exact!);
    rows.push([name, String(imageBytes), String(frame.bytes.length), `${(imageBytes / frame.bytes.length).toFixed(1)}x`,
      frame.timings.preprocessMs.toFixed(1), frame.timings.encodeMs.toFixed(1), cloudMs.toFixed(1), cosine.toFixed(5)]);
  } catch (error) {
    failures++;
    rows.push([name, String(imageBytes), '-', '-', '-', '-', '-', `rejected: ${(error as Error).message.slice(0, 60)}`]);
  }
}
const widths = header.map((h, i) => (i === 7 ? h.length : Math.max(h.length, ...rows.map((r) => r[i]!.length))));
const line = (cells: string[]) => cells.map((c, i) => (i === 7 ? c : i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const row of rows) console.log(line(row));
console.log(`\n${rows.length - failures} frames encoded, sent through the wire format and decoded to ${model.manifest.target.tokens}x${model.manifest.target.hiddenSize} features; ${failures} rejected as expected (truncated.jpg is a deliberately broken file).`);
await encoder.close();
await decoder.close();
