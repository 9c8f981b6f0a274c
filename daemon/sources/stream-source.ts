/**
 * A camera app run as ONE long-lived child that writes MJPEG, or raw RGB
 * frames of a known size, to stdout (rpicam-vid / libcamera-vid, or ffmpeg
 * reading V4L2: JPEGs copied as the camera made them, raw formats converted
 * to RGB with no JPEG in between; create-source.ts). Only the newest
 * complete frame is kept: a slow encoder skips frames instead of queueing
 * them. A child that exits or stops producing frames is restarted with
 * exponential backoff. Spawned without a shell.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import { backoffDelay } from '../link/profiles.ts';
import { MjpegSplitter } from './mjpeg-splitter.ts';
import { RawFrameSplitter } from './raw-frame-splitter.ts';
import type { CapturedImage, FrameSource, RawPixels } from './source.ts';

export interface StreamSourceOptions {
  name: string;
  command: string;
  args: string[];
  log: Logger;
  /** Restart the child when no frame arrived for this long. */
  stallTimeoutMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  maxFrameBytes?: number;
  /** The child writes raw RGB frames of this size instead of MJPEG. */
  raw?: RawPixels;
  onRestart?: (reason: string) => void;
  onFrameReplaced?: () => void;
}

export class StreamSource implements FrameSource {
  readonly name: string;
  readonly live = true;
  readonly exhausted = false;
  readonly #options: StreamSourceOptions;
  #child: ChildProcess | null = null;
  #latest: CapturedImage | null = null;
  #frames = 0;
  #lastFrameAt = 0;
  #restarts = 0;
  #stopping = false;
  #restartTimer: NodeJS.Timeout | null = null;
  #stallTimer: NodeJS.Timeout | null = null;

  constructor(options: StreamSourceOptions) {
    this.name = options.name;
    this.#options = options;
  }

  #newSplitter(): MjpegSplitter | RawFrameSplitter {
    const { raw, maxFrameBytes } = this.#options;
    return raw ? new RawFrameSplitter(raw.width, raw.height) : new MjpegSplitter(maxFrameBytes);
  }

  get restarts(): number {
    return this.#restarts;
  }

  async start(): Promise<void> {
    this.#stopping = false;
    this.#spawn();
    const stall = this.#options.stallTimeoutMs ?? 10_000;
    this.#stallTimer = setInterval(
      () => {
        if (this.#child && Date.now() - this.#lastFrameAt > stall) {
          this.#options.log.warn({ source: this.name, stallMs: Date.now() - this.#lastFrameAt }, 'camera child stalled; restarting it');
          this.#child.kill('SIGKILL');
        }
      },
      Math.max(250, Math.floor(stall / 4)),
    );
    this.#stallTimer.unref();
  }

  #spawn(): void {
    const { command, args, log } = this.#options;
    const splitter = this.#newSplitter();
    this.#lastFrameAt = Date.now();
    let child: ChildProcess;
    try {
      child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], shell: false });
    } catch (error) {
      this.#scheduleRestart(`spawn failed: ${(error as Error).message}`);
      return;
    }
    this.#child = child;
    log.info({ source: this.name, command, args, pid: child.pid }, 'camera child started');
    child.stdout!.on('data', (chunk: Buffer) => {
      for (const bytes of splitter.push(chunk)) {
        this.#frames += 1;
        this.#lastFrameAt = Date.now();
        if (this.#latest) {
          this.#options.onFrameReplaced?.();
          if (splitter instanceof RawFrameSplitter) splitter.recycle(this.#latest.bytes);
        }
        const { raw } = this.#options;
        this.#latest = { bytes, capturedAt: this.#lastFrameAt, label: `${this.name} frame ${this.#frames}`, ...(raw && { raw }) };
      }
    });
    let stderrTail = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString('utf8')).slice(-2000);
    });
    child.on('error', (error) => {
      stderrTail = `${stderrTail}\n${command}: ${error.message}`.slice(-2000); // e.g. ffmpeg not installed: the restart reason says so
      log.error({ source: this.name, err: error.message }, 'camera child could not run');
    });
    child.on('close', (code, signal) => {
      if (this.#child === child) this.#child = null;
      if (this.#stopping) return;
      const lastLine = stderrTail.trim().split('\n').pop() ?? '';
      this.#scheduleRestart(`exited with ${signal ?? `code ${code}`}${lastLine ? `: ${lastLine}` : ''}`);
    });
  }

  #scheduleRestart(reason: string): void {
    if (this.#stopping) return;
    const delay = backoffDelay(this.#restarts, this.#options.backoffInitialMs ?? 500, this.#options.backoffMaxMs ?? 30_000);
    this.#restarts += 1;
    this.#options.log.warn({ source: this.name, reason, restartInMs: delay, restarts: this.#restarts }, 'camera child stopped');
    this.#options.onRestart?.(reason);
    this.#restartTimer = setTimeout(() => this.#spawn(), delay);
  }

  async grab(): Promise<CapturedImage | null> {
    const latest = this.#latest;
    this.#latest = null;
    return latest;
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    if (this.#stallTimer) clearInterval(this.#stallTimer);
    const child = this.#child;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => child.kill('SIGKILL'), 2000);
      child.once('close', () => {
        clearTimeout(force);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }
}
