/** `--config` / `--set` handling shared by the commands that read the daemon's configuration. */
import { join } from 'node:path';
import type { ConfigFlags } from '../../runtime/config-options.ts';
import { defaultDeviceId, defaultModelDir } from '../../runtime/defaults.ts';
import { loadConfig } from '../config/load.ts';
import type { EdgeConfig } from '../config/schema.ts';

export { addConfigOptions, type ConfigFlags } from '../../runtime/config-options.ts';

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
