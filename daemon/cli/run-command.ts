/** `splitoculo-edge run`: the daemon. SIGTERM/SIGINT stop it cleanly (exit 0). */
import type { Command } from 'commander';
import { EdgeDaemon } from '../edge-daemon.ts';
import { createLogger } from '../../runtime/logger.ts';
import { runService } from '../../runtime/service.ts';
import { addConfigOptions, configFromFlags, type ConfigFlags } from './config-options.ts';

export function registerRun(program: Command): void {
  addConfigOptions(program.command('run').description('run the edge daemon: camera -> encoder -> outbox -> MQTT')).action(async (flags: ConfigFlags) => {
    const config = configFromFlags(flags);
    const log = createLogger(config.log.level, { format: config.log.format });
    await runService(new EdgeDaemon(config, log), log);
  });
}
