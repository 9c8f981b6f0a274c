/** The `check` commands' report: one line per check, `ok` or `FAIL` with the reason; exit 1 if any failed. */
import { describeSystemError } from './system-errors.ts';

export type Check = [name: string, run: () => Promise<string>];

export async function runChecks(checks: readonly Check[]): Promise<void> {
  let failed = 0;
  for (const [name, check] of checks) {
    try {
      console.log(`ok   ${name}: ${await check()}`);
    } catch (error) {
      failed++;
      console.log(`FAIL ${name}: ${describeSystemError(error) ?? (error as Error).message}`);
    }
  }
  if (failed) process.exitCode = 1;
}
