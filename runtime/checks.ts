/** The `check` commands' report: one line per check, `ok` or `FAIL` with the reason; exit 1 if any failed. */
import { cacheRoot } from './native-addons.ts';
import { isSingleBinary } from './sea.ts';
import { checkStateFile } from './state-paths.ts';
import { printable } from './printable.ts';
import { describeSystemError } from './system-errors.ts';

export type Check = [name: string, run: () => Promise<string>];

export async function runChecks(checks: readonly Check[]): Promise<void> {
  let failed = 0;
  for (const [name, check] of checks) {
    try {
      console.log(`ok   ${name}: ${printable(await check())}`);
    } catch (error) {
      failed++;
      console.log(`FAIL ${name}: ${printable(describeSystemError(error) ?? (error as Error).message)}`);
    }
  }
  if (failed) process.exitCode = 1;
}

/** The single binary extracts its native addons into the cache directory on first start: it must be writable there. */
export function cacheCheck(env: NodeJS.ProcessEnv = process.env): Check {
  return [
    'cache',
    async () => {
      const root = cacheRoot(env);
      if (!isSingleBinary()) return `${root}: not used (native addons load from node_modules outside the single binary)`;
      return `${root}: writable in ${checkStateFile(`${root}/.probe`, env.SPLITOCULO_CACHE_DIR ? 'SPLITOCULO_CACHE_DIR' : 'cache directory')}`;
    },
  ];
}
