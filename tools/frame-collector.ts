// A subscriber that records every frame delivered, as an integrator's worker would see it.
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { decodeFrame, type WireFrame } from '../protocol/wire/frame.ts';

export class FrameCollector {
  readonly frames: WireFrame[] = [];
  readonly client: MqttClient;

  private constructor(client: MqttClient) {
    this.client = client;
    client.on('message', (_topic, payload) => this.frames.push(decodeFrame(payload)));
  }

  /** clean:false with a fixed id: the broker queues frames for it while it (or the broker) is away. */
  static async connect(url: string, clientId: string, filter = 'splitoculo/v1/+/frame', options: IClientOptions = {}): Promise<FrameCollector> {
    const client = await mqtt.connectAsync(url, { clientId, clean: false, reconnectPeriod: 200, ...options });
    const collector = new FrameCollector(client);
    await client.subscribeAsync(filter, { qos: 1 });
    return collector;
  }

  sequences(): number[] {
    return this.frames.map((f) => f.sequence);
  }

  /** Distinct sequences in the order they first arrived. */
  firstArrivals(): number[] {
    const seen = new Set<number>();
    return this.sequences().filter((s) => !seen.has(s) && seen.add(s));
  }

  async waitForCount(distinct: number, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (new Set(this.sequences()).size < distinct) {
      if (Date.now() > deadline) throw new Error(`only ${new Set(this.sequences()).size} of ${distinct} frames arrived`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
