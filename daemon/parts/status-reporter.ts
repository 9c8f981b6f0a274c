/**
 * The body of the retained status document (protocol/status.ts): what the
 * daemon is doing, read from the parts when the publisher asks (at every
 * connect and after every command). Each field has one source here.
 */
import type { CodecSetting } from '../../protocol/codec-names.ts';
import type { LastCommand, StatusBody } from '../../protocol/status.ts';
import { VERSION } from '../../runtime/version.ts';
import type { LinkEstimate } from '../link/link-estimator.ts';
import type { OutboxStats } from '../outbox/outbox.ts';

export interface StatusSources {
  codec: CodecSetting;
  modelId: () => string | undefined;
  link: () => LinkEstimate | undefined;
  capture: () => { paused: boolean; intervalMs: number; captures: number };
  prompt: () => string | null;
  /** Undefined while the outbox is closed. */
  queue: () => OutboxStats | undefined;
  lastCommand: () => LastCommand | null;
}

export function statusReporter(sources: StatusSources): () => StatusBody {
  return () => {
    const stats = sources.queue();
    const capture = sources.capture();
    const modelId = sources.modelId();
    const link = sources.link();
    const lastCommand = sources.lastCommand();
    return {
      version: VERSION,
      node: process.version,
      ...(modelId !== undefined && { modelId }),
      codec: sources.codec,
      ...(link && { link }),
      paused: capture.paused,
      intervalMs: capture.intervalMs,
      prompt: sources.prompt(),
      ...(stats && { queue: { frames: stats.rows, bytes: stats.bytes, evicted: stats.evicted, rejected: stats.rejected } }),
      captured: capture.captures,
      ...(lastCommand && { lastCommand }),
    };
  };
}
