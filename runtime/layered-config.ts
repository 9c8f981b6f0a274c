/**
 * Settings from a file, the environment and flags, in that order of
 * precedence (flags win), validated by a zod schema whose errors name the
 * path. Environment: SPLITOCULO_<PATH> with `__` between levels, e.g.
 * SPLITOCULO_MQTT__URL; only variables whose first level is a section of the
 * schema count (SPLITOCULO_CONFIG, SPLITOCULO_CACHE_DIR belong to the
 * program). Flags: `--set path=value`. Values that parse as JSON (numbers,
 * booleans, arrays) are taken as such, anything else as a string.
 *
 * Every value remembers the input that set it, so an invalid one is reported
 * as an error of that file, variable or flag (runtime/config-issues.ts).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { formatIssues } from '../protocol/json-input.ts';
import { describeIssues, flagLabel, missingSections, recordOrigins, type Origins } from './config-issues.ts';
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
  assertNoPrototypeKeys(value, path);
  return value as Tree;
}

function parseScalar(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Path segments that reach an object's prototype instead of a setting:
 * `--set __proto__.x=1` wrote into Object.prototype (every object in the
 * process then had an `x`). No setting has these names, so they are refused
 * wherever a path is built from outside (flags, environment, file keys).
 */
const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export function prototypeKey(path: readonly string[]): string | undefined {
  return path.find((part) => PROTOTYPE_KEYS.has(part));
}

/** Refuses a file whose mappings use a prototype key anywhere (JSON.parse and YAML keep `__proto__` as an own key). */
function assertNoPrototypeKeys(value: unknown, source: string, at: string[] = []): void {
  if (typeof value !== 'object' || value === null) return;
  for (const key of Object.keys(value)) {
    if (PROTOTYPE_KEYS.has(key)) throw new ConfigError(`${source}: ${[...at, key].join('.')}: "${key}" is not a setting name`);
    assertNoPrototypeKeys((value as Tree)[key], source, [...at, key]);
  }
}

export function setPath(tree: Tree, path: string[], value: unknown): void {
  const bad = prototypeKey(path);
  if (bad !== undefined) throw new ConfigError(`${path.join('.')}: "${bad}" is not a setting name`);
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

export function overridesFromEnv(env: NodeJS.ProcessEnv, sections: ReadonlySet<string>, origins?: Origins): Tree {
  const tree: Tree = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('SPLITOCULO_') || value === undefined) continue;
    const path = name.slice('SPLITOCULO_'.length).split('__').map(envKey);
    if (!sections.has(path[0]!)) continue;
    const bad = prototypeKey(path);
    if (bad !== undefined) throw new ConfigError(`environment variable ${name}: "${bad}" is not a setting name`);
    const parsed = parseScalar(value);
    setPath(tree, path, parsed);
    if (origins) recordOrigins(origins, parsed, path, `environment variable ${name}`);
  }
  return tree;
}

export function overridesFromFlags(sets: readonly string[], origins?: Origins): Tree {
  const tree: Tree = {};
  for (const assignment of sets) {
    const at = assignment.indexOf('=');
    if (at <= 0) throw new ConfigError(`--set ${assignment}: expected path=value, e.g. --set mqtt.url=mqtt://broker:1883`);
    const path = assignment.slice(0, at).split('.');
    if (path.some((part) => part === '')) throw new ConfigError(`--set ${assignment}: expected a dotted path before "=", e.g. --set mqtt.url=mqtt://broker:1883`);
    const bad = prototypeKey(path);
    if (bad !== undefined) throw new ConfigError(`--set ${assignment}: "${bad}" is not a setting name`);
    const parsed = parseScalar(assignment.slice(at + 1));
    setPath(tree, path, parsed);
    if (origins) recordOrigins(origins, parsed, path, flagLabel(path.join('.'), assignment.slice(at + 1)));
  }
  return tree;
}

export function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (PROTOTYPE_KEYS.has(key)) throw new ConfigError(`${key}: not a setting name`);
    const current = out[key];
    out[key] =
      typeof value === 'object' && value !== null && !Array.isArray(value) && typeof current === 'object' && current !== null && !Array.isArray(current)
        ? merge(current as Tree, value as Tree)
        : value;
  }
  return out;
}

/**
 * Validates the merged tree. With `origins`, each problem is reported against
 * the input that set the value (`--set mqtt.inflight=0: mqtt.inflight: ...`);
 * values nobody set are the file's (`source`) to provide.
 */
export function validateWith<S extends z.ZodType>(schema: S, tree: Tree, source = 'config', origins?: Origins): z.output<S> {
  const result = schema.safeParse(tree);
  if (result.success) return result.data;
  if (!origins) throw new ConfigError(`${source}: ${formatIssues(result.error)}`);
  throw new ConfigError(describeIssues(schema, result.error, origins, source));
}

export interface LayeredSources {
  file?: string;
  env?: NodeJS.ProcessEnv;
  sets?: readonly string[];
  defaults?: Tree;
}

export function loadLayered<S extends z.ZodObject>(schema: S, options: LayeredSources): z.output<S> {
  const origins: Origins = new Map();
  let tree: Tree = options.defaults ?? {};
  if (options.file) {
    const fromFile = readConfigFile(options.file);
    recordOrigins(origins, fromFile, [], options.file);
    tree = merge(tree, fromFile);
  }
  tree = merge(tree, overridesFromEnv(options.env ?? {}, new Set(Object.keys(schema.shape)), origins));
  tree = merge(tree, overridesFromFlags(options.sets ?? [], origins));
  if (!options.file) {
    const result = schema.safeParse(tree);
    const missing = result.success ? [] : missingSections(result.error);
    if (missing.length) {
      throw new ConfigError(
        `--config: no config file given (nor SPLITOCULO_CONFIG); expected a YAML or JSON file with at least ${missing.join(', ')} (e.g. -c /etc/splitoculo/${missing.includes('camera') ? 'edge' : 'cloud'}.yaml)`,
      );
    }
  }
  return validateWith(schema, tree, options.file ?? 'config', origins);
}
