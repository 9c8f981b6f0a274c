/**
 * Capture as a part: the camera and the capture pipeline, and when to take a
 * picture (every `intervalMs`, as fast as the encoder goes at 0, or only on
 * command while paused). Operator commands may arrive before this part runs
 * (the broker connects first): settings are kept, and a "capture" then is
 * taken as soon as the camera is open.
 *
 * An operator's ask needs a picture even when the schedule would take none:
 * `captureNow` takes the next image (a live camera's newest, a replay's next
 * file) and, once a replay has finished, encodes its last image again. The
 * last image handed to frame production is kept (one image) for that and
 * for previews. Until an image is prepared for the ask, ask-picture.ts
 * decides whether to try again or fail it.
 */
import type { Logger } from 'pino';
import type { EdgeConfig } from '../config/schema.ts';
import type { Part } from '../controller.ts';
import type { EdgeMetrics } from '../ops/metrics.ts';
import { CapturePipeline, type CaptureStages } from '../pipeline/capture-pipeline.ts';
import { createSource, type SourceHooks } from '../sources/create-source.ts';
import type { CapturedImage, FrameSource } from '../sources/source.ts';
import { AskPicture } from './ask-picture.ts';

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
  #lastImage: CapturedImage | null = null;
  #again: Promise<void> = Promise.resolve();
  readonly #ask = new AskPicture({
    take: () => this.#takeForAsk(),
    canTake: () => this.#canTake(),
  });

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
    const stages = this.#deps.stages;
    this.#pipeline = new CapturePipeline<Prepared>(
      source,
      {
        prepare: async (image) => {
          const prepared = await this.#prepare(image);
          // An ask after a finished replay re-encodes the last image that made a frame, never a corrupt one.
          if (prepared !== null) this.#lastImage = image;
          return prepared;
        },
        commit: (prepared) => stages.commit(prepared),
        ...(stages.supersede && { supersede: stages.supersede }),
      },
      {
        onCaptured: () => metrics.captured.inc(),
        onDropped: (reason) => metrics.dropped.inc({ reason }),
        onFinished: (captures) => log.info({ captured: captures }, 'capture finished; the queue keeps draining'),
        onEmpty: () => this.#ask.empty(),
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
    this.#ask.cancel();
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#pipeline?.stop();
    await this.#again;
    await this.#source?.stop();
  }

  /**
   * One picture for an ask: the next image, or the last one again once a
   * replay has finished. False when there is none to take (a finished source
   * that never produced an image, or capture stopped); `failed` runs later
   * when no picture could be prepared for it after all (ask-picture.ts).
   */
  captureNow(failed: () => void): boolean {
    if (!this.#canTake()) return false;
    this.#ask.begin(failed);
    return true;
  }

  /** False once no picture can be taken: capture stopped, or a finished source that never produced a good image. */
  #canTake(): boolean {
    return !this.#stopped && !(this.#pipeline?.finished && !this.#lastImage);
  }

  #takeForAsk(): void {
    const pipeline = this.#pipeline;
    if (!pipeline) {
      this.#tickWanted = true;
    } else if (!pipeline.finished) {
      pipeline.tick(); // an image being prepared now is taken first (the tick waits for it)
    } else {
      const image = this.#lastImage!;
      // Serialised behind any earlier repeat. A finished pipeline prepares nothing more, though its last
      // image may still be encoding: with this one, still within its bound of three images at once.
      this.#again = this.#again.then(() => this.#encodeAgain(image));
    }
  }

  /**
   * Frame production's prepare; the waiting ask hears whether it made an image. Every prepare counts, even
   * one begun before the ask: frame production gives the request to the first image prepared after the ask,
   * whenever its prepare began, and a failed one may have been a replay's last file, after which the ask's
   * own tick does nothing (the replay is over): not counting it would strand the ask.
   */
  async #prepare(image: CapturedImage): Promise<Prepared | null> {
    let prepared: Prepared | null = null;
    try {
      prepared = await this.#deps.stages.prepare(image);
    } finally {
      this.#ask.prepared(prepared !== null);
    }
    return prepared;
  }

  /** The image a preview shows: a live camera's newest when it has one, else the last image taken. */
  async latestImage(): Promise<CapturedImage | null> {
    const source = this.#source;
    if (source?.live && !this.#stopped) {
      const fresh = await source.grab().catch(() => null);
      if (fresh) return fresh;
    }
    return this.#lastImage;
  }

  async #encodeAgain(image: CapturedImage): Promise<void> {
    const { metrics, log } = this.#deps;
    try {
      const prepared = await this.#prepare({ ...image, capturedAt: Date.now() });
      if (prepared !== null) await this.#deps.stages.commit(prepared);
    } catch (error) {
      metrics.dropped.inc({ reason: 'commit-failed' });
      log.error({ err: (error as Error).message ?? String(error) }, 'frame lost in the pipeline');
    }
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
