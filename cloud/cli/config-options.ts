/** `--config` / `--set` handling shared by the cloud commands that read the worker's configuration. */
import type { Command } from 'commander';
import { loadCloudConfig } from '../config/load.ts';
import type { CloudConfig } from '../config/schema.ts';

export interface ConfigFlags {
  config?: string;
  set: string[];
}

export function addConfigOptions(command: Command): Command {
  return command
    .option('-c, --config <file>', 'YAML or JSON config file (default: $SPLITOCULO_CONFIG)')
    .option('-s, --set <path=value>', 'override one setting, e.g. --set mqtt.url=mqtt://host:1883 (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[]);
}

export function cloudConfigFromFlags(flags: ConfigFlags, extraSets: string[] = [], env: NodeJS.ProcessEnv = process.env): CloudConfig {
  const file = flags.config ?? env.SPLITOCULO_CONFIG;
  return loadCloudConfig({ ...(file && { file }), env, sets: [...flags.set, ...extraSets] });
}
