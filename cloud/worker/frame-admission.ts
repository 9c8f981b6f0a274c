/**
 * What becomes of a frame that passed intake (sender authenticated, topic
 * device equal to the header's): answered from the dedup store, refused as a
 * replay, joined to its copy in progress, or started. Consulted only after
 * intake, and keyed by (device, frame id) throughout: frame ids are chosen by
 * senders, so one device's id must never reach another device's answer or
 * job. Only answers to admitted frames are stored (remember); a refusal
 * decided at intake is answered by the caller but never stored, so a forged
 * or mismatched sender cannot plant an answer under the id it claims, nor
 * push out other entries with cheap errors.
 */
import type { WireFrame } from '../../protocol/wire/frame.ts';
import type { DedupStore } from './dedup-store.ts';

export type Admission<J> = { kind: 'stored'; payload: string } | { kind: 'replayed'; reason: string } | { kind: 'joined'; job: J } | { kind: 'new' };

function keyOf(deviceId: string, frameId: string): string {
  return JSON.stringify([deviceId, frameId]);
}

export class FrameAdmission<J> {
  readonly #dedup: DedupStore;
  readonly #replayWindow: number;
  readonly #inProgress = new Map<string, J>();

  constructor(dedup: DedupStore, replayWindow: number) {
    this.#dedup = dedup;
    this.#replayWindow = replayWindow;
  }

  admit(deviceId: string, frame: WireFrame, signed: boolean): Admission<J> {
    const stored = this.#dedup.get(deviceId, frame.frameId);
    if (stored !== undefined) return { kind: 'stored', payload: stored };
    if (signed && this.#isReplay(deviceId, frame.sequence)) {
      return { kind: 'replayed', reason: `sequence ${frame.sequence} is more than ${this.#replayWindow} behind the newest signed frame of ${deviceId}` };
    }
    const running = this.#inProgress.get(keyOf(deviceId, frame.frameId));
    return running ? { kind: 'joined', job: running } : { kind: 'new' };
  }

  /** A signed frame far behind its device's newest is a replay (a redelivered copy is answered from the dedup store first). */
  #isReplay(deviceId: string, sequence: number): boolean {
    const newest = this.#dedup.newestSequence(deviceId);
    if (newest !== undefined && sequence + this.#replayWindow < newest) return true;
    this.#dedup.noteSequence(deviceId, sequence);
    return false;
  }

  started(deviceId: string, frameId: string, job: J): void {
    this.#inProgress.set(keyOf(deviceId, frameId), job);
  }

  finished(deviceId: string, frameId: string): void {
    this.#inProgress.delete(keyOf(deviceId, frameId));
  }

  /** Stores the answer to an admitted frame (the caller publishes it next). */
  remember(deviceId: string, frameId: string, payload: Buffer): void {
    this.#dedup.put(deviceId, frameId, payload.toString('utf8'));
  }
}
