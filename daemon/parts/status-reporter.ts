/**
 * The body of the retained status document (protocol/status.ts): what the
 * daemon is doing, read from the parts when the publisher asks (at every
 * connect, on every change and every `status.intervalSeconds`). Each field
 * has one source here.
 */
import type { CodecSetting } from '../../protocol/codec-names.ts';
import type { LastAsk, LastCommand, PendingAsk, StatusBody } from '../../protocol/status.ts';
import { VERSION } from '../../runtime/version.ts';
import type { LinkEstimate } from '../link/link-estimator.ts';
import type { DenialState } from '../link/publish-denials.ts';
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
  /** The console's view (protocol/status.ts); each optional, so older wiring still builds a valid body. */
  asks?: () => { pending: PendingAsk | null; last: LastAsk | undefined };
  frames?: () => { codecs: { neural: number; jpeg: number }; lastFrameAt: number | null; model: string | undefined };
  lastAnswerAt?: () => Date | null;
  lastPreviewAt?: () => Date | null;
  /** Frames the broker refuses (daemon/link/publish-denials.ts); null when none. */
  publishDenied?: () => DenialState | null;
}

function iso(ms: number | Date | null | undefined): string | undefined {
  return ms === null || ms === undefined ? undefined : new Date(ms).toISOString();
}

export function statusReporter(sources: StatusSources): () => StatusBody {
  return () => {
    const stats = sources.queue();
    const capture = sources.capture();
    const modelId = sources.modelId();
    const link = sources.link();
    const lastCommand = sources.lastCommand();
    const asks = sources.asks?.();
    const frames = sources.frames?.();
    const lastFrameAt = iso(frames?.lastFrameAt);
    const lastAnswerAt = iso(sources.lastAnswerAt?.());
    const lastPreviewAt = iso(sources.lastPreviewAt?.());
    const publishDenied = sources.publishDenied?.();
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
      ...(asks && { pendingAsk: asks.pending }),
      ...(asks?.last && { lastAsk: asks.last }),
      ...(frames && { codecs: { ...frames.codecs } }),
      ...(lastFrameAt && { lastFrameAt }),
      ...(lastAnswerAt && { lastAnswerAt }),
      ...(lastPreviewAt && { lastPreviewAt }),
      ...(frames?.model && { model: frames.model }),
      ...(publishDenied && { publishDenied: { ...publishDenied } }),
    };
  };
}
