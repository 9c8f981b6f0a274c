/**
 * The cloud end of the bench: subscribes on loopback (unshaped) and, for each
 * message, does what the worker must do before it can work on a frame, then
 * stamps the time: wire frame -> decode + dequantise (neural) or decode the
 * JPEG to pixels; raw file -> decode to pixels; seed JSON -> parse, base64,
 * dequantise. The models after that (cloud.onnx, Qwen's tower) are stage
 * costs, measured apart (stages.ts).
 */
import { EventEmitter } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';
import sharp from 'sharp';
import { decodeFrame } from '../../protocol/wire/frame.ts';
import { dequantise } from '../../protocol/wire/quantise.ts';
import { parsePlainTopic } from './methods.ts';

export interface Receipt {
  device: string;
  /** neural / jpeg for wire frames; raw / seed-json for the plain sender. */
  kind: 'neural' | 'jpeg' | 'raw' | 'seed-json';
  captureTimeMs: number;
  decodedAt: number;
  payloadBytes: number;
}

export class Receiver extends EventEmitter<{ receipt: [Receipt] }> {
  readonly #client: MqttClient;
  /** Receipts not yet taken, per device: two frames close together must not slip past next(). */
  readonly #waiting = new Map<string, Receipt[]>();

  private constructor(client: MqttClient) {
    super();
    this.#client = client;
  }

  static async connect(brokerUrl: string): Promise<Receiver> {
    const client = await mqtt.connectAsync(brokerUrl, { clientId: `bench-receiver-${process.pid}`, clean: true });
    const receiver = new Receiver(client);
    receiver.on('receipt', (receipt) => {
      const queue = receiver.#waiting.get(receipt.device) ?? [];
      queue.push(receipt);
      receiver.#waiting.set(receipt.device, queue);
    });
    client.on('message', (topic, payload) => {
      receiver.#handle(topic, payload).catch((error) => console.error(`bench receiver: ${topic}: ${(error as Error).message}`));
    });
    await client.subscribeAsync({ 'splitoculo/v1/+/frame': { qos: 1 }, 'splitoculo-bench/#': { qos: 1 } });
    return receiver;
  }

  async #handle(topic: string, payload: Buffer): Promise<void> {
    const plain = parsePlainTopic(topic);
    if (plain) {
      if (plain.method === 'raw') await sharp(payload).raw().toBuffer();
      else {
        const json = JSON.parse(payload.toString('utf8')) as { features: string; scale: number; zero_point: number };
        const data = Buffer.from(json.features, 'base64');
        dequantise({ scheme: 'per-tensor', count: 1, width: data.length, data, params: { scales: Float32Array.of(json.scale), zeroPoints: Float32Array.of(json.zero_point) } });
      }
      this.emit('receipt', { device: plain.device, kind: plain.method, captureTimeMs: plain.captureTimeMs, decodedAt: Date.now(), payloadBytes: payload.length });
      return;
    }
    const frame = decodeFrame(payload);
    if (frame.codec === 'jpeg') await sharp(frame.image.jpeg).raw().toBuffer();
    else dequantise(frame.tokens);
    this.emit('receipt', { device: frame.deviceId, kind: frame.codec === 'jpeg' ? 'jpeg' : 'neural', captureTimeMs: frame.captureTimeMs, decodedAt: Date.now(), payloadBytes: payload.length });
  }

  /** Forget what `device` sent before (a block starts afresh). */
  reset(device: string): void {
    this.#waiting.delete(device);
  }

  /** The oldest receipt from `device` not yet taken, waiting up to `timeoutMs` for one. */
  async next(device: string, timeoutMs: number): Promise<Receipt> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const queued = this.#waiting.get(device)?.shift();
      if (queued) return queued;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame from ${device} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const listener = (receipt: Receipt) => {
          if (receipt.device === device) finish();
        };
        const finish = () => {
          clearTimeout(timer);
          this.off('receipt', listener);
          resolve();
        };
        const timer = setTimeout(finish, Math.min(left, 1000));
        this.on('receipt', listener);
      });
    }
  }

  get client(): MqttClient {
    return this.#client;
  }

  async close(): Promise<void> {
    await this.#client.endAsync(true);
  }
}
