/** `--config` / `--set` handling shared by the commands that read the daemon's configuration. */
import { join } from 'node:path';
import type { Command } from 'commander';
import { defaultDeviceId, defaultModelDir } from '../../runtime/defaults.ts';
import { loadConfig } from '../config/load.ts';
import type { EdgeConfig } from '../config/schema.ts';

export interface ConfigFlags {
  config?: string;
  set: string[];
}

export function addConfigOptions(command: Command): Command {
  return command
    .option('-c, --config <file>', 'YAML or JSON config file (default: $SPLITOCULO_CONFIG)')
    .option('-s, --set <path=value>', 'override one setting, e.g. --set mqtt.url=mqtt://host:1883 (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[]);
}

export function configFromFlags(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): EdgeConfig {
  const stateDir = env.STATE_DIRECTORY?.split(':')[0];
  return loadConfig({
    ...((flags.config ?? env.SPLITOCULO_CONFIG) && { file: flags.config ?? env.SPLITOCULO_CONFIG }),
    env,
    sets: flags.set,
    defaults: {
      device: { id: defaultDeviceId() },
      model: { path: defaultModelDir() },
      outbox: { path: stateDir ? join(stateDir, 'outbox.db') : 'splitoculo-outbox.db' },
    },
  });
}
