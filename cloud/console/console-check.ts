/** What `splitoculo-cloud check` verifies of the console before `run` would use it: the token file and the history file's folder. */
import { dirname, join } from 'node:path';
import type { Check } from '../../runtime/checks.ts';
import { checkStateFile } from '../../runtime/state-paths.ts';
import type { CloudConfig } from '../config/schema.ts';
import { readTokenFile } from './access.ts';

/** The history file the worker writes: console.historyPath, else beside dedup.path. */
export function historyPathOf(config: CloudConfig): string {
  return config.console.historyPath ?? join(dirname(config.dedup.path), 'console-history.db');
}

export function consoleChecks(config: CloudConfig): Check[] {
  const c = config.console;
  if (c.port === undefined) return [];
  const history = historyPathOf(config);
  return [
    ['console', async () => `http://${c.host}:${c.port}/, ${c.tokenFile === undefined ? 'no token (loopback only)' : `token from ${c.tokenFile} (${readTokenFile(c.tokenFile).length} characters)`}`],
    ['console history', async () => `${history}: writable in ${checkStateFile(history, 'console.historyPath')}`],
  ];
}
