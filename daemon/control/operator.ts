/**
 * What the operator reaches on the edge, wired in one place: commands (from
 * the command topic and from Home Assistant), the pending ask, previews and
 * the settings remembered across restarts. The publisher is passed lazily:
 * it is made after these (it hands them their messages), and nothing here
 * publishes before it starts.
 */
import type { Logger } from 'pino';
import type { AnswerEnvelope } from '../../protocol/answer.ts';
import { TopicMap } from '../../protocol/topics.ts';
import type { EdgeConfig } from '../config/schema.ts';
import type { EdgeMetrics } from '../ops/metrics.ts';
import type { CapturePart } from '../parts/capture.ts';
import type { FrameProduction, PreparedCapture } from '../parts/frame-production.ts';
import { HomeAssistant } from '../parts/homeassistant.ts';
import { PreviewSender } from '../parts/preview.ts';
import type { PublisherPart } from '../parts/publisher-part.ts';
import type { Settings, StateStore } from '../parts/state-store.ts';
import { AskTracker } from './ask-tracker.ts';
import { CommandHandler } from './command-handler.ts';
import { commandTargets } from './command-targets.ts';

export interface OperatorDeps {
  config: EdgeConfig;
  /** The configured settings, before the state file's (what a remembered change overrides). */
  configured: Settings;
  state: StateStore;
  frames: FrameProduction;
  capture: CapturePart<PreparedCapture>;
  publisher: () => PublisherPart;
  metrics: EdgeMetrics;
  log: Logger;
}

export class OperatorControls {
  readonly commands: CommandHandler;
  readonly asks: AskTracker;
  readonly preview: PreviewSender;
  readonly homeassistant: HomeAssistant;
  lastAnswerAt: Date | null = null;

  constructor(deps: OperatorDeps) {
    const { config, configured, state, frames, capture, metrics, log } = deps;
    const publisher = deps.publisher;
    const changed = () => publisher().publishStatus();
    const previewTopic = new TopicMap(config.mqtt.topicPrefix).preview(config.device.id);
    this.asks = new AskTracker({ timeoutMs: config.status.askTimeoutSeconds * 1000, changed });
    this.preview = new PreviewSender({
      latestImage: () => capture.latestImage(),
      publish: (jpeg) => publisher().publishOther(previewTopic, jpeg, { retain: false }),
      connected: () => publisher().connected,
      log,
      sent: changed,
    });
    this.commands = new CommandHandler({
      metrics,
      log,
      targets: commandTargets({ frames, capture, asks: this.asks, preview: this.preview, remember: (key, value) => state.remember(key, value, configured[key]) }),
      changed,
    });
    this.homeassistant = new HomeAssistant({
      config,
      published: {
        get: () => state.publishedDiscovery,
        set: (published) => {
          state.publishedDiscovery = published;
        },
      },
      publish: (topic, payload, retain) => publisher().publishOther(topic, payload, { retain }),
      command: (payload) => this.commands.receive(payload),
      model: () => frames.modelName,
      log,
    });
  }

  /** A stored answer: it may end the pending ask, and it is Home Assistant's last answer. */
  answered(answer: AnswerEnvelope): void {
    this.lastAnswerAt = new Date();
    this.asks.answered(answer);
    this.homeassistant.answer(answer);
  }

  /** The publisher's extra subscriptions (Home Assistant's) and who hears of each connect. */
  get others(): { topics: () => readonly string[]; receive(topic: string, payload: Buffer): void; connected(): void } {
    const ha = this.homeassistant;
    return { topics: () => ha.topics(), receive: (topic, payload) => ha.receive(topic, payload), connected: () => ha.connected() };
  }
}
