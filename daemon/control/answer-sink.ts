/**
 * Where answers go once stored: the outbox keeps them (for `splitoculo-edge
 * answers`), and optionally a JSON-lines file or a program that receives the
 * answer on stdin, for integrators.
 *
 * Both are bounded whatever arrives (issue 15, finding 4: 300 answers started
 * 302 processes at once and grew the file without end): at most
 * `commandConcurrency` programs run at once, at most `commandQueue` answers
 * wait for one, later ones are dropped and counted; the file is rotated
 * (file -> file.1 -> ... -> file.N, the oldest deleted) before a line would
 * take it past `jsonlMaxBytes`, so it never holds more than
 * (jsonlFiles + 1) x jsonlMaxBytes.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, renameSync, rmSync, statSync } from 'node:fs';
import type { Logger } from 'pino';
import type { AnswerEnvelope } from '../../protocol/answer.ts';
import type { EdgeConfig } from '../config/schema.ts';
import type { EdgeMetrics } from '../ops/metrics.ts';
import { ensureStateFile } from '../../runtime/state-paths.ts';

type HookLog = Pick<Logger, 'warn'>;

/** Appends lines to `file`, rotating it by size; `size` is tracked, not re-read per line. */
export class RotatingLines {
  readonly #file: string;
  readonly #maxBytes: number;
  readonly #keep: number;
  #size: number;

  constructor(file: string, maxBytes: number, keep: number) {
    this.#file = file;
    this.#maxBytes = maxBytes;
    this.#keep = keep;
    try {
      this.#size = statSync(file).size;
    } catch {
      this.#size = 0;
    }
  }

  append(line: string): void {
    const bytes = Buffer.byteLength(line);
    if (this.#size > 0 && this.#size + bytes > this.#maxBytes) this.#rotate();
    appendFileSync(this.#file, line);
    this.#size += bytes;
  }

  #rotate(): void {
    rmSync(`${this.#file}.${this.#keep}`, { force: true });
    for (let n = this.#keep - 1; n >= 1; n--) {
      try {
        renameSync(`${this.#file}.${n}`, `${this.#file}.${n + 1}`);
      } catch {
        // that copy does not exist yet
      }
    }
    this.#size = 0;
    try {
      renameSync(this.#file, `${this.#file}.1`);
    } catch (error) {
      // Removed from outside: the append starts a new file.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

/** How long one run of answers.command may take before it is killed (and counted failed). */
export const HOOK_TIMEOUT_MS = 60_000;

/** Runs `command` once per answer, at most `concurrency` at once, at most `queue` waiting; the rest dropped. */
export class CommandRunner {
  readonly #command: readonly string[];
  readonly #concurrency: number;
  readonly #queueLimit: number;
  readonly #timeoutMs: number;
  readonly #waiting: string[] = [];
  readonly #count: (outcome: 'ok' | 'failed' | 'dropped') => void;
  readonly #log: HookLog;
  #running = 0;

  /** `timeoutMs`: HOOK_TIMEOUT_MS unless a test gives a short one. */
  constructor(command: readonly string[], limits: { concurrency: number; queue: number; timeoutMs?: number }, count: (outcome: 'ok' | 'failed' | 'dropped') => void, log: HookLog) {
    this.#command = command;
    this.#concurrency = limits.concurrency;
    this.#queueLimit = limits.queue;
    this.#timeoutMs = limits.timeoutMs ?? HOOK_TIMEOUT_MS;
    this.#count = count;
    this.#log = log;
  }

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  submit(line: string): void {
    if (this.#running < this.#concurrency) {
      this.#run(line);
      return;
    }
    if (this.#waiting.length < this.#queueLimit) {
      this.#waiting.push(line);
      return;
    }
    this.#count('dropped');
  }

  #run(line: string): void {
    this.#running += 1;
    const [program, ...args] = this.#command;
    const child = spawn(program!, args, { stdio: ['pipe', 'ignore', 'inherit'], shell: false });
    // A hook that hangs (on the network, say) would hold its slot for ever and, with the others, stop every later answer's hook.
    const timer = setTimeout(() => {
      this.#log.warn({ command: this.#command, timeoutMs: this.#timeoutMs }, 'answers.command took too long; killed');
      child.kill('SIGKILL');
    }, this.#timeoutMs).unref();
    let finished = false;
    const finish = (ok: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      this.#running -= 1;
      this.#count(ok ? 'ok' : 'failed');
      const next = this.#waiting.shift();
      if (next !== undefined) this.#run(next);
    };
    child.on('error', (error) => {
      this.#log.warn({ command: this.#command, err: error.message }, 'answers.command could not run');
      finish(false);
    });
    child.on('close', (code) => {
      if (code) this.#log.warn({ command: this.#command, code }, 'answers.command failed');
      finish(code === 0);
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(line);
  }
}

export function answerHook(config: EdgeConfig['answers'], log: Logger, metrics?: Pick<EdgeMetrics, 'answerHooks'>): (answer: AnswerEnvelope) => void {
  // At start, not at the first answer: its folder is created (0750), or the daemon stops with one line naming answers.jsonlFile.
  if (config.jsonlFile) ensureStateFile(config.jsonlFile, 'answers.jsonlFile');
  const lines = config.jsonlFile ? new RotatingLines(config.jsonlFile, config.jsonlMaxBytes, config.jsonlFiles) : null;
  const runner = config.command
    ? new CommandRunner(config.command, { concurrency: config.commandConcurrency, queue: config.commandQueue }, (outcome) => metrics?.answerHooks.inc({ outcome }), log)
    : null;
  return (answer) => {
    const line = `${JSON.stringify(answer)}\n`;
    if (lines) {
      try {
        lines.append(line);
      } catch (error) {
        log.warn({ file: config.jsonlFile, err: (error as Error).message }, 'cannot append the answer to answers.jsonlFile');
      }
    }
    runner?.submit(line);
  };
}
