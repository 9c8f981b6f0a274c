// Worker thread that owns the edge model's onnxruntime session.
// onnxruntime-node runs inference synchronously on the calling thread; here
// that thread is not the daemon's, so MQTT, SQLite and the next image's
// preprocessing keep going while the model runs.
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import type { LoadedModel } from '../../protocol/manifest/load.ts';
import { openSession, type SessionOptions } from '../../protocol/manifest/onnx-session.ts';

export interface EncoderWorkerData {
  model: LoadedModel;
  options: SessionOptions;
}

export type EncoderRequest = { id: number; image: ArrayBuffer } | { id: number; close: true };
export type EncoderReply =
  | { id: number; tokens: ArrayBuffer; dims: readonly number[] }
  | { id: number; error: string; name: string }
  | { id: -1; ready: true }
  | { id: -1; error: string; name: string };

async function serve(port: NonNullable<typeof parentPort>, { model, options }: EncoderWorkerData): Promise<void> {
  const { session, inputName, outputName } = await openSession(model, 'edge', options);
  const size = model.manifest.preprocess.crop.width;
  port.on('message', async (request: EncoderRequest) => {
    if ('close' in request) {
      await session.release();
      port.postMessage({ id: request.id, tokens: new ArrayBuffer(0), dims: [] } satisfies EncoderReply);
      port.close();
      return;
    }
    try {
      const input = new ort.Tensor('float32', new Float32Array(request.image), [1, 3, size, size]);
      const output = (await session.run({ [inputName]: input }))[outputName]!;
      const data = output.data as Float32Array;
      const tokens = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
      port.postMessage({ id: request.id, tokens, dims: output.dims } satisfies EncoderReply, [tokens]);
    } catch (error) {
      port.postMessage({ id: request.id, error: (error as Error).message, name: (error as Error).name } satisfies EncoderReply);
    }
  });
  port.postMessage({ id: -1, ready: true } satisfies EncoderReply);
}

if (parentPort) {
  const port = parentPort;
  serve(port, workerData as EncoderWorkerData).catch((error: Error) => {
    port.postMessage({ id: -1, error: error.message, name: error.name } satisfies EncoderReply);
  });
}
