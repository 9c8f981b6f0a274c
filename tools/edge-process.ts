// The edge daemon (or, with program = [node, CLOUD_BIN], the cloud worker) as a
// real child process, with its JSON log lines collected.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './repo-paths.ts';

export const EDGE_BIN = join(REPO_ROOT, 'daemon', 'bin', 'splitoculo-edge.ts');
export const CLOUD_BIN = join(REPO_ROOT, 'cloud', 'bin', 'splitoculo-cloud.ts');

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

// Children left by a failed test must not outlive the test file.
const live = new Set<EdgeProcess>();
process.on('exit', () => {
  for (const edge of live) edge.child.kill('SIGKILL');
});

/** For afterEach hooks: a failed test must not leave its daemon fighting the next one for a client id. */
export async function stopAllEdges(): Promise<void> {
  await Promise.all([...live].map((edge) => edge.stop('SIGKILL')));
}

export class EdgeProcess {
  readonly lines: LogLine[] = [];
  readonly raw: string[] = [];
  stderr = '';
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #waiters: Array<() => void> = [];

  /** `program` runs another build of the daemon, e.g. ['dist/splitoculo-edge-linux-x64']. */
  constructor(configPath: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = process.env, program: string[] = [process.execPath, EDGE_BIN]) {
    this.child = spawn(program[0]!, [...program.slice(1), 'run', '-c', configPath, ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let partial = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      partial += chunk.toString();
      const parts = partial.split('\n');
      partial = parts.pop()!;
      for (const part of parts) {
        this.raw.push(part);
        try {
          this.lines.push(JSON.parse(part.replace(/^<\d>/, '')));
        } catch {
          this.lines.push({ level: 30, msg: part });
        }
      }
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.child.once('close', (code, signal) => resolve({ code, signal })));
    live.add(this);
    void this.exited.then(() => live.delete(this));
  }

  async waitFor(predicate: (line: LogLine) => boolean, timeoutMs = 20_000, what = 'log line'): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(predicate);
      if (found) return found;
      if (this.child.exitCode !== null) throw new Error(`process exited (${this.child.exitCode}) before ${what}; stderr: ${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; last lines: ${JSON.stringify(this.lines.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  count(predicate: (line: LogLine) => boolean): number {
    return this.lines.filter(predicate).length;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM') {
    if (this.child.exitCode === null) this.child.kill(signal);
    return this.exited;
  }
}

export function writeConfig(dir: string, config: Record<string, unknown>, name = 'edge.json'): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}
