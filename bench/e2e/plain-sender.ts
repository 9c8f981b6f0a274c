/**
 * The bench's sender for what the daemon does not send: the raw sample file,
 * and the seed's own payload (edge model, uint8 quantisation, base64 in JSON:
 * `features`, `scale`, `zero_point`, `prompt`). Runs on the edge side of the
 * link; one request per stdin line (`<method> <file>`), one line back when the
 * broker has acknowledged the message (`ok <bytes>`).
 *   node bench/e2e/plain-sender.ts --broker URL --device ID --model DIR
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { FrameEncoder } from '../../daemon/pipeline/frame-encoder.ts';
import { preprocessImage } from '../../daemon/pipeline/preprocess.ts';
import { loadModel } from '../../protocol/manifest/load.ts';
import { quantise } from '../../protocol/wire/quantise.ts';
import { plainTopic } from './methods.ts';

const { values } = parseArgs({ options: { broker: { type: 'string' }, device: { type: 'string' }, model: { type: 'string' }, threads: { type: 'string', default: '1' } } });
const model = await loadModel(values.model!, ['edge']);
const encoder = await FrameEncoder.open(model, { intraOpThreads: Number(values.threads), scheme: 'per-tensor' });
const client = await mqtt.connectAsync(values.broker!, { clientId: `bench-plain-${values.device}`, keepalive: 120, protocolVersion: 4 });

async function seedPayload(bytes: Buffer, label: string): Promise<Buffer> {
  const { tensor } = await preprocessImage(bytes, model.manifest.preprocess, label);
  const { tokens } = await encoder.encodeTensor(tensor, {
    deviceId: values.device!,
    frameId: '01900000-0000-7000-8000-000000000000',
    sequence: 0,
    captureTimeMs: 0,
    clockUnreliable: false,
    prompt: null,
  });
  const { count, width } = model.manifest.tokens;
  const q = quantise(tokens, count, width, 'per-tensor');
  return Buffer.from(JSON.stringify({ features: Buffer.from(q.data).toString('base64'), scale: q.params.scales[0], zero_point: q.params.zeroPoints[0], prompt: null }));
}

for await (const line of createInterface({ input: process.stdin })) {
  const [method, file] = line.trim().split(' ') as ['raw' | 'seed-json', string];
  if (!file) continue;
  const captureTimeMs = Date.now();
  const bytes = await readFile(file);
  const payload = method === 'raw' ? bytes : await seedPayload(bytes, basename(file));
  await client.publishAsync(plainTopic(method, values.device!, captureTimeMs, basename(file)), payload, { qos: 1 });
  process.stdout.write(`ok ${payload.length}\n`);
}
await client.endAsync();
await encoder.close();
