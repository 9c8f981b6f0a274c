/** `splitoculo-cloud run`: the worker. SIGTERM/SIGINT finish the frames in progress, then exit 0. */
import { type Command, InvalidArgumentError } from 'commander';
import { createLogger } from '../../runtime/logger.ts';
import { runService } from '../../runtime/service.ts';
import { WorkerService } from '../console/worker-service.ts';
import { addConfigOptions, cloudConfigFromFlags, type ConfigFlags } from './config-options.ts';

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new InvalidArgumentError(`expected a TCP port 0..65535, got ${JSON.stringify(value)}`);
  return port;
}

export function registerRun(program: Command): void {
  addConfigOptions(
    program
      .command('run')
      .description('run the cloud worker: frames from MQTT -> features -> Qwen2.5-VL -> answers on MQTT')
      .option('--embedded-broker [port]', 'also run an in-process MQTT 3.1.1 broker on this port (default 1883)', parsePort),
  ).action(async (flags: ConfigFlags & { embeddedBroker?: number | true }) => {
    const broker = flags.embeddedBroker === undefined ? [] : ['broker.embedded=true', ...(flags.embeddedBroker === true ? [] : [`broker.port=${flags.embeddedBroker}`])];
    const config = cloudConfigFromFlags(flags, broker);
    const log = createLogger(config.log.level, { name: 'splitoculo-cloud' });
    await runService(new WorkerService(config, log), log, 'stopping: finishing frames in progress');
  });
}
