/**
 * Capture as a part: the camera and the capture pipeline, and when to take a
 * picture (every `intervalMs`, as fast as the encoder goes at 0, or only on
 * command while paused). Operator commands may arrive before this part runs
 * (the broker connects first): settings are kept, and a "capture" then is
 * taken as soon as the camera is open.
 */
import type { Logger } from 'pino';
import type { EdgeConfig } from '../config/schema.ts';
import type { Part } from '../controller.ts';
import type { EdgeMetrics } from '../ops/metrics.ts';
import { CapturePipeline, type CaptureStages } from '../pipeline/capture-pipeline.ts';
import { createSource, type SourceHooks } from '../sources/create-source.ts';
import type { FrameSource } from '../sources/source.ts';

export interface CaptureDeps<Prepared> {
  config: EdgeConfig;
  metrics: EdgeMetrics;
  log: Logger;
  /** Frame production's two stages. */
  stages: CaptureStages<Prepared>;
  /** The camera; createSource from config.camera unless a test gives another. */
  source?: (hooks: SourceHooks) => FrameSource;
}

export class CapturePart<Prepared> implements Part {
  readonly #deps: CaptureDeps<Prepared>;
  #source: FrameSource | null = null;
  #pipeline: CapturePipeline<Prepared> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;
  #tickWanted = false;
  #paused: boolean;
  #intervalMs: number;

  constructor(deps: CaptureDeps<Prepared>) {
    this.#deps = deps;
    this.#paused = deps.config.capture.paused;
    this.#intervalMs = deps.config.capture.intervalMs;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get intervalMs(): number {
    return this.#intervalMs;
  }

  get captures(): number {
    return this.#pipeline?.captures ?? 0;
  }

  get finished(): boolean {
    return this.#pipeline?.finished ?? false;
  }

  get cameraName(): string | undefined {
    return this.#source?.name;
  }

  async start(): Promise<void> {
    const { config, metrics, log } = this.#deps;
    const hooks: SourceHooks = {
      onRestart: () => metrics.dropped.inc({ reason: 'camera-restart' }),
      onFrameReplaced: () => metrics.dropped.inc({ reason: 'superseded' }),
    };
    const source = this.#deps.source?.(hooks) ?? createSource(config.camera, log, hooks);
    this.#source = source;
    await source.start();
    this.#pipeline = new CapturePipeline<Prepared>(
      source,
      this.#deps.stages,
      {
        onCaptured: () => metrics.captured.inc(),
        onDropped: (reason) => metrics.dropped.inc({ reason }),
        onFinished: (captures) => log.info({ captured: captures }, 'capture finished; the queue keeps draining'),
        // Not progress: if every frame fails, the watchdog pings stop and systemd restarts us.
        onFailed: (stage, error) => {
          metrics.dropped.inc({ reason: `${stage}-failed` });
          log.error({ stage, err: (error as Error).message ?? String(error) }, 'frame lost in the pipeline');
        },
      },
      config.capture.maxFrames,
    );
    this.#schedule();
    if (this.#tickWanted && this.#paused) this.tick(); // unpaused, #schedule has just ticked
  }

  /** Stop taking pictures, finish the frame in hand, close the camera. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#pipeline?.stop();
    await this.#source?.stop();
  }

  /** One picture now (a timer tick or an operator's "capture"). */
  tick(): void {
    if (this.#stopped) return;
    if (!this.#pipeline) {
      this.#tickWanted = true;
      return;
    }
    this.#tickWanted = false;
    this.#pipeline.tick();
  }

  pause(): void {
    this.#paused = true;
    this.#schedule();
  }

  resume(): void {
    this.#paused = false;
    this.#schedule();
  }

  setInterval(ms: number): void {
    this.#intervalMs = ms;
    this.#schedule();
  }

  #schedule(): void {
    const pipeline = this.#pipeline;
    if (!pipeline || this.#stopped) return;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    pipeline.continuous = this.#intervalMs === 0 && !this.#paused;
    if (this.#intervalMs > 0) {
      this.#timer = setInterval(() => {
        if (!this.#paused) this.tick();
      }, this.#intervalMs);
    }
    if (!this.#paused) setImmediate(() => this.tick());
  }
}
