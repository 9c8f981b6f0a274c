/**
 * The capture loop: two stages that overlap, so preprocessing the next
 * image (sharp, libuv threads) runs while the encoder works on the current
 * one (onnxruntime's thread).
 *
 *   tick -> [prepare: grab + preprocess] -> slot (one image) -> [commit: encode + queue]
 *
 * Memory is bounded by design: one image being prepared, one waiting in the
 * slot, one being committed. With a live camera the newest image wins: a
 * prepared image that finds the slot taken replaces it (counted as a drop),
 * and ticks that arrive while preparing collapse into one. A replayed
 * folder is not live: the next file waits for the slot, nothing is skipped.
 */
import type { CapturedImage, FrameSource } from '../sources/source.ts';

export interface CaptureStages<Prepared> {
  /** Preprocess; null when the image is unusable (the stage counts and logs it). */
  prepare(image: CapturedImage): Promise<Prepared | null>;
  commit(prepared: Prepared): Promise<void>;
  /** A waiting image replaced by a newer one (a live camera): what goes on in its place (an ask's request moves to it). */
  supersede?(dropped: Prepared, replacement: Prepared): Prepared;
}

export type DropReason = 'superseded' | 'capture-busy';

export interface CaptureEvents {
  onCaptured(): void;
  onDropped(reason: DropReason): void;
  onFinished(captures: number): void;
  /** A tick found no image (a live camera with nothing new since the last grab, or a file that could not be read). */
  onEmpty?(): void;
  /** A stage threw: the image is lost, the pipeline carries on with the next one. */
  onFailed(stage: 'capture' | 'commit', error: unknown): void;
}

export class CapturePipeline<Prepared> {
  readonly #source: FrameSource;
  readonly #stages: CaptureStages<Prepared>;
  readonly #events: CaptureEvents;
  readonly #maxFrames: number | undefined;
  #preparing = false;
  #committing = false;
  #tickPending = false;
  #slot: Prepared | null = null;
  #captures = 0;
  #stopped = false;
  #finishedReported = false;
  #idleWaiters: Array<() => void> = [];
  /** Capture again as soon as the prepare stage is free, instead of on a timer. */
  continuous = false;

  constructor(source: FrameSource, stages: CaptureStages<Prepared>, events: CaptureEvents, maxFrames?: number) {
    this.#source = source;
    this.#stages = stages;
    this.#events = events;
    this.#maxFrames = maxFrames;
  }

  get captures(): number {
    return this.#captures;
  }

  get finished(): boolean {
    return (this.#maxFrames !== undefined && this.#captures >= this.#maxFrames) || this.#source.exhausted;
  }

  /** Take a picture now (a timer tick or an operator's "capture" command). */
  tick(): void {
    if (this.#stopped || this.finished) return;
    const waitingForSlot = !this.#source.live && this.#slot !== null;
    if (this.#preparing || waitingForSlot) {
      if (this.#tickPending && this.#source.live) this.#events.onDropped('capture-busy');
      this.#tickPending = true;
      return;
    }
    void this.#prepare();
  }

  async #prepare(): Promise<void> {
    this.#preparing = true;
    try {
      const image = await this.#source.grab().catch((error: unknown) => {
        this.#events.onEmpty?.();
        throw error;
      });
      if (!image) {
        this.#events.onEmpty?.();
        return;
      }
      this.#captures += 1;
      this.#events.onCaptured();
      const prepared = await this.#stages.prepare(image);
      if (prepared === null) return;
      const dropped = this.#slot;
      if (dropped !== null) this.#events.onDropped('superseded');
      this.#slot = dropped !== null && this.#stages.supersede ? this.#stages.supersede(dropped, prepared) : prepared;
    } catch (error) {
      this.#events.onFailed('capture', error);
    } finally {
      this.#preparing = false;
      this.#settle();
    }
    void this.#commitLoop();
  }

  async #commitLoop(): Promise<void> {
    if (this.#committing) return;
    this.#committing = true;
    try {
      while (this.#slot !== null && !this.#stopped) {
        const job = this.#slot;
        this.#slot = null;
        this.#settle(); // a replay may prepare its next file while this one encodes
        try {
          await this.#stages.commit(job);
        } catch (error) {
          this.#events.onFailed('commit', error);
        }
      }
    } finally {
      this.#committing = false;
      this.#settle();
    }
  }

  /** Runs a deferred tick once it can proceed; wakes stop() when idle. */
  #settle(): void {
    if ((this.#tickPending || this.continuous) && !this.#preparing && !this.#stopped && (this.#source.live || this.#slot === null)) {
      this.#tickPending = false;
      // Deferred so a continuous capture never recurses through the stages.
      setImmediate(() => this.tick());
    }
    if (this.finished && !this.#preparing && !this.#committing && this.#slot === null && !this.#finishedReported) {
      this.#finishedReported = true;
      this.#events.onFinished(this.#captures);
    }
    if (!this.#preparing && !this.#committing) for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  /** Stop taking pictures; finish the image in hand (being prepared, waiting or encoding). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#preparing || this.#committing) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    const left = this.#slot;
    this.#slot = null;
    if (left !== null) await this.#stages.commit(left);
  }
}
