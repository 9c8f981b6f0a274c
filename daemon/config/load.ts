/**
 * The edge daemon's configuration: a file, SPLITOCULO_* environment variables
 * and `--set` flags, layered by runtime/layered-config.ts and validated by
 * the edge schema.
 */
import { loadLayered, overridesFromEnv as sectionOverrides, validateWith, type LayeredSources, type Tree } from '../../runtime/layered-config.ts';
import { configSchema, type EdgeConfig } from './schema.ts';

export { ConfigError, merge, overridesFromFlags, readConfigFile, setPath } from '../../runtime/layered-config.ts';

export function overridesFromEnv(env: NodeJS.ProcessEnv): Tree {
  return sectionOverrides(env, new Set(Object.keys(configSchema.shape)));
}

export function validateConfig(tree: Tree, source = 'config'): EdgeConfig {
  return validateWith(configSchema, tree, source);
}

export function loadConfig(options: LayeredSources): EdgeConfig {
  return loadLayered(configSchema, options);
}
