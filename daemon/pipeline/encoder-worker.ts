// Worker thread that owns the edge model's onnxruntime session.
// onnxruntime-node's session.run blocks the thread it runs on for the whole
// inference (about 120 ms on a Rock 5B); here that thread is not the daemon's,
// so MQTT, SQLite and the next image's preprocessing keep going meanwhile.
//
// No message per frame: the tensor, the tokens and a control word live in
// SharedArrayBuffers made once (worker-encoder.ts). The worker sleeps in
// Atomics.wait until the request counter moves, runs the model on the one
// input tensor bound to the shared input, copies the tokens into the shared
// output and bumps the reply counter. Nothing is allocated or copied between
// threads per frame beyond onnxruntime's own output.
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { LoadedModel } from '../../protocol/manifest/load.ts';
import { openSession, type SessionOptions } from '../../protocol/manifest/onnx-session.ts';

/** Int32 slots of the control word. */
export const REQUEST = 0;
export const REPLY = 1;
export const STATUS = 2; // 0 ok, 1 failed (the message is in the error buffer)
export const CLOSE = 3;
export const ERROR_BYTES = 1024;

export interface EncoderWorkerData {
  model: LoadedModel;
  options: SessionOptions;
  control: SharedArrayBuffer;
  input: SharedArrayBuffer;
  output: SharedArrayBuffer;
  error: SharedArrayBuffer;
}

export type EncoderReply = { ready: true } | { error: string; name: string } | { closed: true };

async function serve(port: NonNullable<typeof parentPort>, data: EncoderWorkerData): Promise<void> {
  const { session, inputName, outputName } = await openSession(data.model, 'edge', data.options);
  const { width, height } = data.model.manifest.preprocess.crop;
  const control = new Int32Array(data.control);
  const output = new Float32Array(data.output);
  const errorText = new Uint8Array(data.error);
  const feeds = { [inputName]: new ort.Tensor('float32', new Float32Array(data.input), [1, 3, height, width]) };
  // Read before announcing ready: the first request may be counted the moment the caller hears of it,
  // and a counter read after that would already include it (the worker would then wait forever).
  let seen = Atomics.load(control, REQUEST);
  port.postMessage({ ready: true } satisfies EncoderReply);
  for (;;) {
    Atomics.wait(control, REQUEST, seen);
    if (Atomics.load(control, CLOSE) === 1) break;
    seen = Atomics.load(control, REQUEST);
    try {
      const tokens = (await session.run(feeds))[outputName]!.data as Float32Array;
      if (tokens.length > output.length) throw new Error(`produced ${tokens.length} values, more than the ${output.length} the manifest promises`);
      output.set(tokens);
      Atomics.store(control, STATUS, 0);
    } catch (error) {
      const text = new TextEncoder().encode((error as Error).message.slice(0, ERROR_BYTES / 4));
      errorText.fill(0).set(text.subarray(0, ERROR_BYTES));
      Atomics.store(control, STATUS, 1);
    }
    Atomics.store(control, REPLY, seen);
    Atomics.notify(control, REPLY);
  }
  await session.release();
  port.postMessage({ closed: true } satisfies EncoderReply);
  port.close();
}

if (parentPort) {
  const port = parentPort;
  serve(port, workerData as EncoderWorkerData).catch((error: Error) => {
    port.postMessage({ error: error.message, name: error.name } satisfies EncoderReply);
  });
}
