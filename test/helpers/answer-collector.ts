// An integrator's view: every answer published for any device, as parsed envelopes.
import mqtt, { type MqttClient } from 'mqtt';
import { parseAnswer, type AnswerEnvelope } from '../../protocol/answer.ts';
import { waitUntil } from './wait.ts';

export class AnswerCollector {
  readonly answers: AnswerEnvelope[] = [];
  readonly raw: string[] = [];
  readonly client: MqttClient;

  private constructor(client: MqttClient) {
    this.client = client;
    client.on('message', (_topic, payload) => {
      this.raw.push(payload.toString());
      this.answers.push(parseAnswer(payload));
    });
  }

  static async connect(url: string, filter = 'splitoculo/v1/+/answer'): Promise<AnswerCollector> {
    const client = await mqtt.connectAsync(url, { clientId: `answers-${process.pid}-${Math.random().toString(36).slice(2, 8)}`, reconnectPeriod: 200 });
    const collector = new AnswerCollector(client);
    await client.subscribeAsync(filter, { qos: 1 });
    return collector;
  }

  /** Distinct frame ids answered (null ids, for unreadable frames, not counted). */
  frameIds(): Set<string> {
    return new Set(this.answers.flatMap((a) => (a.frameId ? [a.frameId] : [])));
  }

  async waitForFrames(frameIds: readonly string[], timeoutMs = 60_000): Promise<void> {
    await waitUntil(() => frameIds.every((id) => this.frameIds().has(id)), timeoutMs, `answers for ${frameIds.length} frames (have ${frameIds.filter((id) => this.frameIds().has(id)).length})`);
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
