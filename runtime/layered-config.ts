/**
 * Settings from a file, the environment and flags, in that order of
 * precedence (flags win), validated by a zod schema whose errors name the
 * path. Environment: SPLITOCULO_<PATH> with `__` between levels, e.g.
 * SPLITOCULO_MQTT__URL; only variables whose first level is a section of the
 * schema count (SPLITOCULO_CONFIG, SPLITOCULO_CACHE_DIR belong to the
 * program). Flags: `--set path=value`. Values that parse as JSON (numbers,
 * booleans, arrays) are taken as such, anything else as a string.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { formatIssues } from '../protocol/json-input.ts';
import { UserError } from '../protocol/errors.ts';

export class ConfigError extends UserError {
  override readonly name = 'ConfigError';
}

export type Tree = Record<string, unknown>;

export function readConfigFile(path: string): Tree {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${path}: cannot read the config file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  let value: unknown;
  try {
    value = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new ConfigError(`${path}: not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'} (${(error as Error).message.split('\n')[0]})`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`${path}: expected a mapping at the top level`);
  return value as Tree;
}

function parseScalar(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function setPath(tree: Tree, path: string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Tree;
  }
  node[path[path.length - 1]!] = value;
}

/** camelCase keys from SPLITOCULO_OUTBOX__MAX_FRAMES-style names. */
function envKey(part: string): string {
  return part.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export function overridesFromEnv(env: NodeJS.ProcessEnv, sections: ReadonlySet<string>): Tree {
  const tree: Tree = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('SPLITOCULO_') || value === undefined) continue;
    const path = name.slice('SPLITOCULO_'.length).split('__').map(envKey);
    if (!sections.has(path[0]!)) continue;
    setPath(tree, path, parseScalar(value));
  }
  return tree;
}

export function overridesFromFlags(sets: readonly string[]): Tree {
  const tree: Tree = {};
  for (const assignment of sets) {
    const at = assignment.indexOf('=');
    if (at <= 0) throw new ConfigError(`--set ${assignment}: expected path=value, e.g. --set mqtt.url=mqtt://broker:1883`);
    setPath(tree, assignment.slice(0, at).split('.'), parseScalar(assignment.slice(at + 1)));
  }
  return tree;
}

export function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] =
      typeof value === 'object' && value !== null && !Array.isArray(value) && typeof current === 'object' && current !== null && !Array.isArray(current)
        ? merge(current as Tree, value as Tree)
        : value;
  }
  return out;
}

export function validateWith<S extends z.ZodType>(schema: S, tree: Tree, source = 'config'): z.output<S> {
  const result = schema.safeParse(tree);
  if (!result.success) throw new ConfigError(`${source}: ${formatIssues(result.error)}`);
  return result.data;
}

export interface LayeredSources {
  file?: string;
  env?: NodeJS.ProcessEnv;
  sets?: readonly string[];
  defaults?: Tree;
}

export function loadLayered<S extends z.ZodObject>(schema: S, options: LayeredSources): z.output<S> {
  let tree: Tree = options.defaults ?? {};
  if (options.file) tree = merge(tree, readConfigFile(options.file));
  tree = merge(tree, overridesFromEnv(options.env ?? {}, new Set(Object.keys(schema.shape))));
  tree = merge(tree, overridesFromFlags(options.sets ?? []));
  return validateWith(schema, tree, options.file ?? 'config');
}
