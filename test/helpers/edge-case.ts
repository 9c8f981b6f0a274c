// One edge daemon configuration per test case: a fresh folder under `root`
// holding the outbox and the config file, the case's settings merged over the
// file's defaults. Shared by the suites that start daemons, so each does not
// write its own setup().
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { merge } from '../../daemon/config/load.ts';
import { writeConfig } from '../../tools/edge-process.ts';
import { TINY_MODEL_DIR } from './paths.ts';

export interface EdgeCase {
  dir: string;
  config: Record<string, unknown>;
  path: string;
}

const counters = new Map<string, number>();

/**
 * Writes `<root>/case-N/edge.json`: device, tiny model (one thread), outbox in
 * the case folder, debug logs, then `defaults` (the suite's), then `overrides`
 * (the test's). A camera in `overrides` replaces the default camera whole: its
 * fields depend on its type.
 */
export function edgeCase(root: string, defaults: Record<string, unknown>, overrides: Record<string, unknown> = {}): EdgeCase {
  const n = counters.get(root) ?? 0;
  counters.set(root, n + 1);
  const dir = join(root, `case-${n}`);
  mkdirSync(dir, { recursive: true });
  const base = { device: { id: 'test-cam' }, model: { path: TINY_MODEL_DIR, threads: 1 }, outbox: { path: join(dir, 'outbox.db') }, log: { level: 'debug' } };
  const config = merge(merge(base, defaults), overrides);
  if (overrides.camera) config.camera = overrides.camera;
  return { dir, config, path: writeConfig(dir, config) };
}
