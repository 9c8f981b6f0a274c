/** `--config` / `--set` handling shared by the cloud commands that read the worker's configuration. */
import type { ConfigFlags } from '../../runtime/config-options.ts';
import { loadCloudConfig } from '../config/load.ts';
import type { CloudConfig } from '../config/schema.ts';

export { addConfigOptions, type ConfigFlags } from '../../runtime/config-options.ts';

export function cloudConfigFromFlags(flags: ConfigFlags, extraSets: string[] = [], env: NodeJS.ProcessEnv = process.env): CloudConfig {
  const file = flags.config ?? env.SPLITOCULO_CONFIG;
  return loadCloudConfig({ ...(file && { file }), env, sets: [...flags.set, ...extraSets] });
}
