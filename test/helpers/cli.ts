// The two commands as a user runs them: real child processes of the repository's bins.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { REPO_ROOT } from './paths.ts';

export { CLOUD_BIN, EDGE_BIN } from '../../tools/edge-process.ts';

const run = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  /** Added to a copy of this process's environment without any SPLITOCULO_* or systemd directory variables. */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** The environment of a user's fresh shell: nothing of ours set. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith('SPLITOCULO_') || name === 'STATE_DIRECTORY' || name === 'CACHE_DIRECTORY' || name === 'JOURNAL_STREAM') continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}

/** Runs `node <script> ...args` to its end; never throws for a non-zero exit. */
export async function cli(script: string, args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [script, ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      env: cleanEnv(options.env),
      timeout: options.timeoutMs ?? 120_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number | string; signal?: string; stdout: string; stderr: string };
    if (typeof e.code !== 'number') throw new Error(`${script} ${args.join(' ')} did not exit by itself (${e.code ?? e.signal}); stderr: ${e.stderr}`);
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The lines a failed command wrote to stderr (empty lines dropped). */
export function stderrLines(result: CliResult): string[] {
  return result.stderr.split('\n').filter((line) => line.trim() !== '');
}
