/** `splitoculo-edge queue status|export|purge|replay`: the outbox, for operators. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import type { MqttClient } from 'mqtt';
import { decodeFrame } from '../../protocol/wire/frame.ts';
import { TopicMap } from '../../protocol/topics.ts';
import { isUserError, UserError } from '../../protocol/errors.ts';
import { describeSystemError } from '../../runtime/system-errors.ts';
import { urlHasPassword } from '../../runtime/mqtt-config.ts';
import { redactUrl } from '../../runtime/mqtt-connection.ts';
import { printable, stringifyPrintable } from '../../runtime/printable.ts';
import type { EdgeConfig } from '../config/schema.ts';
import { openOutbox } from '../edge-daemon.ts';
import { connectOnce } from './broker-client.ts';
import { JobProgress } from './progress.ts';
import { addConfigOptions, configFromFlags, type ConfigFlags } from './config-options.ts';

/** The broker `queue replay` was pointed at cannot be reached; names the flag or setting and the URL. */
export class ReplayBrokerError extends UserError {
  override readonly name = 'ReplayBrokerError';
}

/** The folder `queue export --out` names cannot be made. */
export class ExportFolderError extends UserError {
  override readonly name = 'ExportFolderError';
}

async function connectForReplay(config: EdgeConfig, url: string, source: string, clientId: string): Promise<MqttClient> {
  try {
    return await connectOnce(config, url, clientId, 10_000);
  } catch (error) {
    if (isUserError(error)) throw error; // a settings file (mqtt.passwordFile, mqtt.ca, ...) already named
    const reason = describeSystemError(error) ?? (error as Error).message;
    throw new ReplayBrokerError(`${source} ${redactUrl(url)}: cannot connect to the broker (${reason}); nothing was replayed, the queue is unchanged`);
  }
}

const progressHelp = 'when stderr is not a terminal, a progress line this often (0: every frame); on a terminal, a bar';

function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected seconds, 0 or more');
  return n;
}

export function registerQueue(program: Command): void {
  const queue = program.command('queue').description('inspect, export, purge or replay the outbox');

  addConfigOptions(queue.command('status').description('queued frames, bytes, oldest frame, evictions').option('--json', 'print JSON')).action((flags: ConfigFlags & { json?: boolean }) => {
    const config = configFromFlags(flags);
    const outbox = openOutbox(config);
    const stats = outbox.stats();
    outbox.close();
    const report = { path: config.outbox.path, ...stats, oldestCaptured: stats.oldestCapturedAt && new Date(stats.oldestCapturedAt).toISOString() };
    if (flags.json) return console.log(stringifyPrintable(report));
    console.log(printable(`${report.path}: ${stats.rows} frames, ${stats.bytes} bytes queued${report.oldestCaptured ? `, oldest captured ${report.oldestCaptured}` : ''}`));
    console.log(
      printable(
        `evicted: ${Object.entries(stats.evicted)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}; rejected ${stats.rejected}; answers kept ${stats.answers}; last sequence ${stats.lastSequence}`,
      ),
    );
  });

  addConfigOptions(
    queue
      .command('export')
      .description('write every queued frame to a folder as <sequence>-<frame id>.frame')
      .requiredOption('-o, --out <dir>', 'target folder')
      .option('--progress-every <seconds>', progressHelp, seconds, 5),
  ).action((flags: ConfigFlags & { out: string; progressEvery: number }) => {
    const config = configFromFlags(flags);
    try {
      mkdirSync(flags.out, { recursive: true });
    } catch (error) {
      throw new ExportFolderError(`--out ${flags.out}: cannot create the folder (${describeSystemError(error) ?? (error as Error).message})`);
    }
    const outbox = openOutbox(config);
    const progress = new JobProgress('export', outbox.stats().rows, { everyMs: flags.progressEvery * 1000 });
    try {
      for (const frame of outbox.all()) {
        writeFileSync(join(flags.out, `${String(frame.sequence).padStart(10, '0')}-${frame.frameId}.frame`), frame.bytes);
        progress.tick(frame.bytes.length);
      }
    } finally {
      outbox.close();
    }
    const summary = progress.finish();
    console.log(`exported ${progress.done} frames to ${flags.out}: ${summary}`);
  });

  addConfigOptions(queue.command('purge').description('delete every queued frame (answers are kept)').requiredOption('--yes', 'confirm')).action((flags: ConfigFlags) => {
    const outbox = openOutbox(configFromFlags(flags));
    const n = outbox.purge();
    outbox.close();
    console.log(`purged ${n} frames`);
  });

  addConfigOptions(
    queue
      .command('replay')
      .description('publish the queued frames to a broker now, removing each once acknowledged')
      .option('--to <url>', 'broker URL (default: mqtt.url of the config)')
      .option('--keep', 'keep frames in the queue after publishing')
      .option('--progress-every <seconds>', progressHelp, seconds, 5),
  ).action(async (flags: ConfigFlags & { to?: string; keep?: boolean; progressEvery: number }) => {
    const config = configFromFlags(flags);
    const outbox = openOutbox(config);
    const topics = new TopicMap(config.mqtt.topicPrefix);
    const total = outbox.stats().rows;
    // As for mqtt.url: a password only from mqtt.passwordFile, never typed where shells and logs keep it.
    if (flags.to !== undefined && urlHasPassword(flags.to)) {
      outbox.close();
      throw new ReplayBrokerError(`--to ${redactUrl(flags.to)}: the URL carries a password; put the password in a file (mode 600) and set mqtt.passwordFile`);
    }
    const url = flags.to ?? config.mqtt.url;
    let client: MqttClient;
    try {
      client = await connectForReplay(config, url, flags.to ? '--to' : 'mqtt.url', `splitoculo-replay-${config.device.id}-${process.pid}`);
    } catch (error) {
      outbox.close();
      throw error;
    }
    const progress = new JobProgress('replay', total, { everyMs: flags.progressEvery * 1000 });
    try {
      for (const frame of [...outbox.all()]) {
        const device = decodeFrame(frame.bytes).deviceId; // refuses damaged rows before they reach the broker
        await client.publishAsync(topics.frame(device), Buffer.from(frame.bytes), { qos: 1 });
        if (!flags.keep) outbox.ack([frame.sequence]);
        progress.tick(frame.bytes.length);
      }
    } finally {
      await client.endAsync();
      outbox.close();
    }
    const summary = progress.finish();
    console.log(`replayed ${progress.done} frames to ${redactUrl(flags.to ?? config.mqtt.url)}${flags.keep ? ' (kept in the queue)' : ''}: ${summary}`);
  });
}
