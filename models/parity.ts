// Runs one ONNX model with onnxruntime-node on a raw float32 input and compares
// the output with a raw float32 expectation. Called by models/export.py so the
// parity check uses the runtime the daemon and the worker ship with.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { compareTensors } from '../protocol/tensor-compare.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    input: { type: 'string' },
    'input-shape': { type: 'string' },
    expected: { type: 'string' },
  },
});
const { model, input, expected } = values;
const shapeText = values['input-shape'];
if (!model || !input || !expected || !shapeText) {
  console.error('usage: parity.ts --model M.onnx --input in.f32 --input-shape 2,3,224,224 --expected out.f32');
  process.exit(2);
}

function readFloat32(path: string): Float32Array {
  const bytes = readFileSync(path);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

const session = await ort.InferenceSession.create(model);
const shape = shapeText.split(',').map(Number);
const inputName = session.inputNames[0]!;
const outputName = session.outputNames[0]!;
const outputs = await session.run({ [inputName]: new ort.Tensor('float32', readFloat32(input), shape) });
const actual = outputs[outputName]!.data as Float32Array;
const comparison = compareTensors(actual, readFloat32(expected));
console.log(JSON.stringify({ ...comparison, outputShape: outputs[outputName]!.dims }));
