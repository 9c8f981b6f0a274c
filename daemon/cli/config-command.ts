/**
 * `splitoculo-edge config`: the effective configuration, or the schema of
 * every field. Printed with URL passwords redacted and control characters
 * escaped (a value can come from anywhere: file, environment, flag); secrets
 * are only ever file names here (mqtt.passwordFile, auth.keyFile), never read.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { configSchema } from '../config/schema.ts';
import { redactSecrets, stringifyPrintable } from '../../runtime/printable.ts';
import { addConfigOptions, configFromFlags, type ConfigFlags } from './config-options.ts';

export function registerConfig(program: Command): void {
  addConfigOptions(
    program
      .command('config')
      .description('print the effective configuration (file < environment < flags), or --schema')
      .option('--schema', 'print the JSON Schema of the configuration, with every field described'),
  ).action((flags: ConfigFlags & { schema?: boolean }) => {
    if (flags.schema) return console.log(JSON.stringify(z.toJSONSchema(configSchema, { io: 'input' }), null, 2));
    console.log(redactSecrets(stringifyPrintable(configFromFlags(flags), 2)));
  });
}
