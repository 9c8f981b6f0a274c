/** `--config` / `--set`, shared by the commands of both programs that read their configuration. */
import type { Command } from 'commander';

export interface ConfigFlags {
  config?: string;
  set: string[];
}

export function addConfigOptions(command: Command): Command {
  return command
    .option('-c, --config <file>', 'YAML or JSON config file (default: $SPLITOCULO_CONFIG)')
    .option('-s, --set <path=value>', 'override one setting, e.g. --set mqtt.url=mqtt://host:1883 (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[]);
}
