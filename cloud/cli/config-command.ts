/**
 * `splitoculo-cloud config`: the effective configuration, or the schema of
 * every field; URL passwords redacted and control characters escaped, secrets
 * only ever as file names (passwordFile, apiKeyFile, tokenFile, key folders).
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { cloudConfigSchema } from '../config/schema.ts';
import { redactSecrets, stringifyPrintable } from '../../runtime/printable.ts';
import { addConfigOptions, cloudConfigFromFlags, type ConfigFlags } from './config-options.ts';

export function registerConfig(program: Command): void {
  addConfigOptions(
    program
      .command('config')
      .description('print the effective configuration (file < environment < flags), or --schema')
      .option('--schema', 'print the JSON Schema of the configuration, with every field described'),
  ).action((flags: ConfigFlags & { schema?: boolean }) => {
    if (flags.schema) return console.log(JSON.stringify(z.toJSONSchema(cloudConfigSchema, { io: 'input' }), null, 2));
    console.log(redactSecrets(stringifyPrintable(cloudConfigFromFlags(flags), 2)));
  });
}
