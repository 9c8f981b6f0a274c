/** The cloud worker's configuration: file, SPLITOCULO_* environment, `--set` flags (runtime/layered-config.ts). */
import { join } from 'node:path';
import { loadLayered, type Tree } from '../../runtime/layered-config.ts';
import { cloudConfigSchema, type CloudConfig } from './schema.ts';

export function loadCloudConfig(options: { file?: string; env?: NodeJS.ProcessEnv; sets?: readonly string[]; defaults?: Tree }): CloudConfig {
  const env = options.env ?? {};
  const stateDir = env.STATE_DIRECTORY?.split(':')[0];
  const defaults: Tree = { dedup: { path: stateDir ? join(stateDir, 'answered.db') : 'splitoculo-answered.db' }, ...options.defaults };
  return loadLayered(cloudConfigSchema, { ...options, defaults });
}
