/** `splitoculo-edge config`: the effective configuration, or the schema of every field. */
import type { Command } from 'commander';
import { z } from 'zod';
import { configSchema } from '../config/schema.ts';
import { addConfigOptions, configFromFlags, type ConfigFlags } from './config-options.ts';

export function registerConfig(program: Command): void {
  addConfigOptions(
    program
      .command('config')
      .description('print the effective configuration (file < environment < flags), or --schema')
      .option('--schema', 'print the JSON Schema of the configuration, with every field described'),
  ).action((flags: ConfigFlags & { schema?: boolean }) => {
    if (flags.schema) return console.log(JSON.stringify(z.toJSONSchema(configSchema, { io: 'input' }), null, 2));
    const config = configFromFlags(flags);
    const redacted = config.mqtt.password ? { ...config, mqtt: { ...config.mqtt, password: '(set)' } } : config;
    console.log(JSON.stringify(redacted, null, 2));
  });
}
