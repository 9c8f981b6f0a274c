/**
 * `splitoculo-cloud ask <device> "prompt" [--timeout s] -c cloud.yaml`: asks a
 * device about what its camera sees now. Sends the ask command with a fresh
 * request id over the console's MQTT connection settings (console.mqtt, else
 * the worker's), waits for the answer that echoes the id, and prints its text
 * through runtime/printable.ts (the text comes from a model looking at
 * whatever the camera sees: it must not drive the terminal; error lines are
 * escaped the same way by the CLI shell). A refusal (an
 * ask already pending), an error answer, an ask the device ended without an
 * answer (its status's lastAsk) or no answer in time: one line, exit 1.
 */
import { type Command, InvalidArgumentError } from 'commander';
import mqtt from 'mqtt';
import { parseAnswer } from '../../protocol/answer.ts';
import { encodeCommand, parseCommand } from '../../protocol/commands.ts';
import { assertDeviceId } from '../../protocol/device-id.ts';
import { UserError } from '../../protocol/errors.ts';
import { parseStatus, type StatusDocument } from '../../protocol/status.ts';
import { TopicMap } from '../../protocol/topics.ts';
import { clientOptions, redactUrl } from '../../runtime/mqtt-connection.ts';
import { printable } from '../../runtime/printable.ts';
import { consoleConnection } from '../console/console-settings.ts';
import { newRequestId } from '../console/operator-console.ts';
import { addConfigOptions, cloudConfigFromFlags, type ConfigFlags } from './config-options.ts';

export class AskError extends UserError {
  override readonly name = 'AskError';
}

function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 86_400) throw new InvalidArgumentError(`expected seconds, more than 0 and at most 86400, got ${JSON.stringify(value)}`);
  return seconds;
}

/** After a status saying the ask failed, how long its error answer, if there is one, may take to arrive. */
const ANSWER_GRACE_MS = 1000;

/** How the device's status says an ask ended without an answer (protocol/status.ts, lastAsk). */
const ASK_ENDED = {
  failed: 'the ask failed at the device (no picture could be taken or its frame made, or the answer was an error)',
  'timed-out': 'the ask timed out at the device (status.askTimeoutSeconds) with no answer',
} as const;

function describeState(status: StatusDocument | null): string {
  if (status === null) return 'no status seen from it';
  if (status.state === 'offline') return 'it is offline';
  return status.pendingAsk ? `online, still waiting on ask ${status.pendingAsk.id}` : 'online';
}

export async function ask(flags: ConfigFlags & { timeout: number }, device: string, prompt: string): Promise<{ text: string; ms: number; id: string }> {
  assertDeviceId(device, 'ask <device>');
  const config = cloudConfigFromFlags(flags);
  const topics = new TopicMap(config.mqtt.topicPrefix);
  const settings = consoleConnection(config, null);
  const id = newRequestId();
  const command = (() => {
    try {
      // The daemon's own schema, through the parser that names the path (command: prompt: ...).
      return encodeCommand(parseCommand(JSON.stringify({ command: 'ask', prompt, id })));
    } catch (error) {
      throw new AskError(`ask "prompt": ${(error as Error).message.replace(/^command: prompt: /, '')}`);
    }
  })();
  let client: mqtt.MqttClient;
  try {
    const options = clientOptions({ settings, clientId: `splitoculo-ask-${id}`.slice(0, 64), protocol: 4, keepaliveSeconds: 30, reconnectPeriodMs: 0, connectTimeoutMs: 10_000 });
    client = await mqtt.connectAsync(settings.url, { ...options, clean: true });
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new AskError(`broker ${redactUrl(settings.url)}: cannot connect (${(error as Error).message}); check console.mqtt / mqtt.url`);
  }
  let timer: NodeJS.Timeout | undefined;
  try {
    let status: StatusDocument | null = null;
    let endedSeen = false;
    const sentAt = Date.now();
    const answer = new Promise<{ text: string; ms: number; id: string }>((resolve, reject) => {
      timer = setTimeout(() => reject(new AskError(`ask ${device}: no answer to request ${id} within ${flags.timeout} s (${describeState(status)})`)), flags.timeout * 1000);
      client.on('message', (topic, payload) => {
        try {
          if (topic === topics.status(device)) {
            status = parseStatus(payload);
            const refused = status.state === 'online' ? status.lastCommand : undefined;
            if (refused && refused.ok === false && refused.id === id) {
              clearTimeout(timer);
              reject(new AskError(`ask ${device}: refused by the device: ${refused.error}`));
            }
            // The device ended the ask without an answer: no point waiting out --timeout. An error answer
            // (also `failed`) may be a moment behind the status on its own topic: it is given ANSWER_GRACE_MS to say more.
            const ended = status.state === 'online' ? status.lastAsk : undefined;
            if (ended && ended.id === id && ended.outcome !== 'answered' && !endedSeen) {
              endedSeen = true;
              clearTimeout(timer);
              const said = ASK_ENDED[ended.outcome];
              timer = setTimeout(() => reject(new AskError(`ask ${device}: ${said}`)), ended.outcome === 'failed' ? ANSWER_GRACE_MS : 0);
            }
            return;
          }
          const envelope = parseAnswer(payload);
          if (envelope.requestId !== id) return;
          clearTimeout(timer);
          if (envelope.error) reject(new AskError(`ask ${device}: the answer is an error: ${envelope.error.code}: ${envelope.error.message}`));
          else resolve({ text: envelope.text ?? '', ms: Date.now() - sentAt, id });
        } catch {
          // Not ours to judge: a malformed status or answer from elsewhere is ignored while waiting.
        }
      });
    });
    answer.catch(() => undefined); // settled below, or abandoned when subscribing or publishing fails
    // A broker that refuses (its ACL: SUBACK 0x80, an MQTT 5 PUBACK >= 0x80) is the operator's to fix: one line, exit 1.
    const refused = (what: string) => (error: Error) => {
      throw new AskError(`ask ${device}: broker ${redactUrl(settings.url)} refused ${what} (${error.message})`);
    };
    await client.subscribeAsync([topics.answer(device), topics.status(device)], { qos: 1 }).catch(refused("the subscription to the device's answers and status"));
    await client.publishAsync(topics.command(device), command, { qos: 1 }).catch(refused('the ask command'));
    return await answer;
  } finally {
    clearTimeout(timer);
    await client.endAsync(true).catch(() => undefined);
  }
}

export function registerAsk(program: Command): void {
  addConfigOptions(
    program
      .command('ask')
      .description('ask a device about its newest frame now and print the answer')
      .argument('<device>', 'device id')
      .argument('<prompt>', 'the question')
      .option('--timeout <seconds>', 'how long to wait for the answer', parseSeconds, 120),
  ).action(async (device: string, prompt: string, flags: ConfigFlags & { timeout: number }) => {
    const result = await ask(flags, device, prompt);
    process.stdout.write(`${printable(result.text)}\n`); // a model's words about whatever the camera sees: never obeyed by the terminal
    process.stderr.write(`${device} answered request ${result.id} in ${(result.ms / 1000).toFixed(1)} s\n`);
  });
}
