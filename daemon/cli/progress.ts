/**
 * Progress of a long CLI job (queue replay, queue export) on stderr, so
 * stdout keeps only the result: a bar on a terminal (cli-progress), else a
 * line every `everyMs` (logs and pipes get no carriage returns), and a
 * summary line for stdout when done.
 */
import { Presets, SingleBar } from 'cli-progress';

export interface ProgressOptions {
  /** A bar when true; lines otherwise. Default: whether stderr is a terminal. */
  terminal?: boolean;
  /** Between lines when not on a terminal (0: a line per item). */
  everyMs?: number;
  write?: (text: string) => void;
  now?: () => number;
}

export class JobProgress {
  readonly #verb: string;
  readonly #total: number;
  readonly #bar: SingleBar | null;
  readonly #everyMs: number;
  readonly #write: (text: string) => void;
  readonly #now: () => number;
  readonly #started: number;
  #lastLine: number;
  done = 0;
  bytes = 0;

  constructor(verb: string, total: number, options: ProgressOptions = {}) {
    this.#verb = verb;
    this.#total = total;
    this.#everyMs = options.everyMs ?? 5000;
    this.#write = options.write ?? ((text) => process.stderr.write(text));
    this.#now = options.now ?? (() => performance.now());
    this.#started = this.#now();
    this.#lastLine = this.#started;
    const terminal = options.terminal ?? process.stderr.isTTY === true;
    this.#bar = terminal
      ? new SingleBar({ format: `${verb} [{bar}] {value}/{total} frames | {percentage}% | ETA {eta_formatted}`, hideCursor: true, clearOnComplete: false }, Presets.shades_classic)
      : null;
    this.#bar?.start(total, 0);
  }

  /** One item done. */
  tick(bytes: number): void {
    this.done += 1;
    this.bytes += bytes;
    if (this.#bar) {
      this.#bar.update(this.done);
      return;
    }
    const now = this.#now();
    if (now - this.#lastLine >= this.#everyMs || this.done === this.#total) {
      this.#lastLine = now;
      const percent = this.#total === 0 ? 100 : Math.floor((this.done / this.#total) * 100);
      this.#write(`${this.#verb}: ${this.done}/${this.#total} frames (${percent}%), ${this.bytes} bytes\n`);
    }
  }

  /** Ends the bar; the summary: count, bytes, time and rate. */
  finish(): string {
    this.#bar?.stop();
    const seconds = Math.max((this.#now() - this.#started) / 1000, 0.001);
    const rate = this.done / seconds;
    return `${this.done} frames (${this.bytes} bytes) in ${seconds.toFixed(1)} s (${rate >= 10 ? Math.round(rate) : rate.toFixed(1)} frames/s)`;
  }
}
