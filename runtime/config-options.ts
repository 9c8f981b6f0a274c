/** `--config` / `--set`, shared by the commands of both programs that read their configuration. */
import { type Command, InvalidArgumentError } from 'commander';

export interface ConfigFlags {
  config?: string;
  set: string[];
}

export function addConfigOptions(command: Command): Command {
  return command
    .option('-c, --config <file>', 'YAML or JSON config file (default: $SPLITOCULO_CONFIG)')
    .option('-s, --set <path=value>', 'override one setting, e.g. --set mqtt.url=mqtt://host:1883 (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[]);
}

/** `--timeout <ms>` of the check commands: 1 ms .. 1 hour; anything else names the option (exit 2). */
export function parseTimeoutMs(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < 1 || n > 3_600_000) throw new InvalidArgumentError(`expected milliseconds 1..3600000, got ${JSON.stringify(value)}`);
  return n;
}
