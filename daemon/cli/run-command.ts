/** `splitoculo-edge run`: the daemon. SIGTERM/SIGINT stop it cleanly (exit 0). */
import type { Command } from 'commander';
import { EdgeDaemon } from '../edge-daemon.ts';
import { createLogger } from '../../runtime/logger.ts';
import { addConfigOptions, configFromFlags, type ConfigFlags } from './config-options.ts';

export function registerRun(program: Command): void {
  addConfigOptions(program.command('run').description('run the edge daemon: camera -> encoder -> outbox -> MQTT')).action(async (flags: ConfigFlags) => {
    const config = configFromFlags(flags);
    const log = createLogger(config.log.level);
    const daemon = new EdgeDaemon(config, log);
    let signalled = false;
    const stop = (signal: string) => {
      if (signalled) return;
      signalled = true;
      log.info({ signal }, 'stopping');
      daemon.stop().then(() => process.exit(0), (error) => {
        log.error({ err: (error as Error).message }, 'stop failed');
        process.exit(1);
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    try {
      await daemon.start();
    } catch (error) {
      await daemon.stop().catch(() => undefined);
      throw error;
    }
    await new Promise(() => undefined); // runs until a signal
  });
}
