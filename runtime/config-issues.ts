/**
 * Validation errors of a layered configuration, each attributed to the input
 * that set the offending value: the config file, one SPLITOCULO_* variable or
 * one --set flag, so the user knows which of the three to fix. A misspelt key
 * gets the nearest known one as a suggestion.
 */
import type { z } from 'zod';

/** Where each leaf setting came from, by dotted path: a file path, `SPLITOCULO_X__Y`, `--set a.b=1`. */
export type Origins = Map<string, string>;

const SECRET = /password|secret|token|key/i;

/** How an input is named in messages: secrets' values are never echoed. */
export function flagLabel(path: string, value: string): string {
  return `--set ${path}=${SECRET.test(path) ? '(hidden)' : value}`;
}

export function recordOrigins(origins: Origins, tree: unknown, prefix: string[], source: string): void {
  if (typeof tree === 'object' && tree !== null && !Array.isArray(tree) && Object.keys(tree).length > 0) {
    for (const [key, value] of Object.entries(tree)) recordOrigins(origins, value, [...prefix, key], source);
  } else if (prefix.length) {
    origins.set(prefix.join('.'), source);
  }
}

/** The input that set `path` or the nearest setting above it; else the one that set everything below it; else null. */
function originOf(origins: Origins, path: readonly PropertyKey[]): string | null {
  for (let n = path.length; n > 0; n--) {
    const found = origins.get(path.slice(0, n).join('.'));
    if (found) return found;
  }
  const prefix = path.length ? `${path.join('.')}.` : '';
  const below = new Set([...origins].filter(([key]) => key.startsWith(prefix)).map(([, source]) => source));
  return below.size === 1 ? [...below][0]! : null;
}

type AnySchema = { _zod: { def: { type: string; shape?: Record<string, AnySchema>; innerType?: AnySchema; options?: AnySchema[]; in?: AnySchema } } };

/** The keys an object schema accepts at `path` (the union of a discriminated union's options). */
export function keysAt(schema: unknown, path: readonly PropertyKey[]): string[] {
  let nodes = [schema as AnySchema];
  for (const key of [...path, null]) {
    const objects: AnySchema[] = [];
    const open = [...nodes];
    while (open.length) {
      const def = open.pop()!._zod.def;
      if (def.type === 'object') objects.push({ _zod: { def } });
      else if (def.innerType) open.push(def.innerType);
      else if (def.in) open.push(def.in);
      else if (def.options) open.push(...def.options);
    }
    if (key === null) return [...new Set(objects.flatMap((o) => Object.keys(o._zod.def.shape ?? {})))];
    nodes = objects.map((o) => o._zod.def.shape?.[String(key)]).filter((s): s is AnySchema => s !== undefined);
  }
  return [];
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** The known key nearest to `key` (case-insensitive, or at most a quarter of its letters off, at least one), or null. */
export function suggestKey(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Math.max(1, Math.floor(key.length / 4)) + 1;
  for (const candidate of known) {
    const d = candidate.toLowerCase() === key.toLowerCase() ? 0 : distance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

/** One line: the issues grouped by the input at fault, `<input>: <path>: <problem>; ...`. */
export function describeIssues(schema: unknown, error: z.ZodError, origins: Origins, fallback: string): string {
  const bySource = new Map<string, string[]>();
  const add = (source: string | null, text: string) => {
    const key = source ?? fallback;
    bySource.set(key, [...(bySource.get(key) ?? []), text]);
  };
  for (const issue of error.issues) {
    const where = issue.path.length ? issue.path.join('.') : '(top level)';
    if (issue.code === 'unrecognized_keys') {
      const known = keysAt(schema, issue.path);
      for (const key of issue.keys) {
        const suggestion = suggestKey(key, known);
        const hint = suggestion ? ` (did you mean "${suggestion}"?)` : known.length ? ` (expected one of: ${known.join(', ')})` : '';
        add(originOf(origins, [...issue.path, key]), `${where}: Unrecognized key: "${key}"${hint}`);
      }
    } else {
      add(originOf(origins, issue.path), `${where}: ${issue.message}`);
    }
  }
  return [...bySource].map(([source, texts]) => `${source}: ${texts.join('; ')}`).join('; ');
}

/** The top-level sections a configuration lacks entirely (nothing from any input), or []. */
export function missingSections(error: z.ZodError): string[] {
  return error.issues.filter((issue) => issue.path.length === 1 && issue.code === 'invalid_type' && / received undefined$/.test(issue.message)).map((issue) => String(issue.path[0]));
}
