/**
 * What each operator command does to the parts (the CommandHandler's
 * targets): settings go to capture and frame production and are remembered
 * in the state file, so they survive a restart; an ask becomes a pending ask
 * (one at a time) whose frame carries its prompt and request id; a preview
 * is one thumbnail.
 */
import type { Settings } from '../parts/state-store.ts';
import type { AskTracker } from './ask-tracker.ts';
import type { CommandTargets } from './command-handler.ts';

export interface CommandTargetDeps {
  frames: {
    prompt: string | null;
    requestNext(request: { prompt: string; requestId: string }): void;
    cancelRequest(requestId: string): boolean;
  };
  capture: { captureNow(failed: () => void): boolean; tick(): void; pause(): void; resume(): void; setInterval(ms: number): void };
  asks: Pick<AskTracker, 'begin' | 'failed'>;
  preview: { request(): string | null };
  /** Remembers a changed setting with the configured value it overrides. */
  remember: <K extends keyof Settings>(key: K, value: Settings[K]) => void;
}

export function commandTargets(deps: CommandTargetDeps): CommandTargets {
  const { frames, capture, asks, remember } = deps;
  return {
    setPrompt: (prompt) => {
      frames.prompt = prompt;
      remember('prompt', prompt);
    },
    capture: () => capture.tick(),
    pause: () => {
      capture.pause();
      remember('paused', true);
    },
    resume: () => {
      capture.resume();
      remember('paused', false);
    },
    setInterval: (ms) => {
      capture.setInterval(ms);
      remember('intervalMs', ms);
    },
    ask: (prompt, id) => {
      const refused = asks.begin(id, prompt);
      if (refused) return refused;
      frames.requestNext({ prompt, requestId: id });
      // Only while no frame carries the request yet: one that does is answered, or fails through requestFailed.
      const fail = () => {
        if (frames.cancelRequest(id)) asks.failed(id);
      };
      if (capture.captureNow(fail)) return null; // `fail` runs later if no picture could be prepared for it after all
      fail();
      return 'no image to capture: the camera has produced none';
    },
    preview: () => deps.preview.request(),
  };
}
