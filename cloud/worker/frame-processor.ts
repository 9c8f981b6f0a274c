/**
 * One batch of frames of one model: cloud.onnx on all of them at once (with
 * the manifest's rescale), then the answerer, then the answer envelopes with
 * the time each stage took. Failures become error answers, one per frame.
 */
import type { AnswerEnvelope, AnswerErrorCode } from '../../protocol/answer.ts';
import type { WireFrame } from '../../protocol/wire/frame.ts';
import type { Answerer, Generation } from '../answer/answerer.ts';
import { AnswererError, ANSWER_ERROR_CODE } from '../answer/errors.ts';
import type { ServedModel } from './model-registry.ts';

export interface FrameJob {
  deviceId: string;
  frame: WireFrame;
  served: ServedModel;
  /** Wire decoding and checks, at intake. */
  decodeMs: number;
  /** performance.now() at arrival. */
  receivedAt: number;
  /** Epoch milliseconds after which the answer is no longer wanted. */
  deadline: number;
}

export interface ProcessorDeps {
  answerer: Answerer;
  defaultPrompt: string;
  workerId: string;
  /** Aborted when the worker stops without time to finish. */
  signal?: AbortSignal;
}

export interface StageTimes {
  queueMs: number;
  /** cloud.onnx's share per frame; absent for JPEG frames, which skip it. */
  cloudMs?: number;
  tailMs?: number;
  languageModelMs?: number;
}

export function envelope(
  job: Pick<FrameJob, 'deviceId' | 'receivedAt'> & { frame?: WireFrame },
  workerId: string,
  outcome: { text: string; tokens: number } | { error: { code: AnswerErrorCode; message: string } },
  timings: Partial<StageTimes> & { decodeMs?: number },
): AnswerEnvelope {
  const { frame } = job;
  return {
    v: 1,
    frameId: frame?.frameId ?? null,
    device: job.deviceId,
    modelId: frame?.modelId ?? null,
    ...(frame && { sequence: frame.sequence }),
    prompt: frame?.prompt ?? null,
    // An operator's ask: the console matches the answer to its request by this id.
    ...(frame?.requestId && { requestId: frame.requestId }),
    ...outcome,
    ...('error' in outcome && { error: { code: outcome.error.code, message: outcome.error.message.slice(0, 2000) } }),
    timings: { ...roundAll(timings), totalMs: round(performance.now() - job.receivedAt) },
    worker: workerId,
    answeredAt: new Date().toISOString(),
  };
}

function round(ms: number): number {
  return Math.max(0, Math.round(ms * 10) / 10);
}

function roundAll(timings: Record<string, number | undefined>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(timings)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, round(v!)]),
  );
}

function errorCode(error: unknown): AnswerErrorCode {
  return error instanceof AnswererError ? ANSWER_ERROR_CODE[error.code] : 'answerer-failed';
}

/** Answer envelopes for the jobs, in order; all jobs are for the same model. */
export async function processBatch(jobs: readonly FrameJob[], deps: ProcessorDeps): Promise<AnswerEnvelope[]> {
  const started = performance.now();
  const queueMs = jobs.map((job) => started - job.receivedAt);
  const { decoder, model } = jobs[0]!.served;
  // Bottleneck tokens go through cloud.onnx together; JPEG frames go to the answerer as they are,
  // so a cloud.onnx failure fails only the neural frames of the batch.
  const neural = jobs.flatMap((job, i) => (job.frame.codec === 'neural-u8' ? [{ i, tokens: job.frame.tokens }] : []));
  const features: Array<Float32Array | undefined> = new Array(jobs.length);
  let decodeFailure: Error | null = null;
  try {
    if (neural.length > 0) {
      for (const [k, one] of (await decoder.decode(neural.map((n) => n.tokens))).entries()) features[neural[k]!.i] = one;
    }
  } catch (error) {
    decodeFailure = error as Error;
  }
  const cloudMs = neural.length > 0 ? (performance.now() - started) / neural.length : undefined;
  const ready = jobs.flatMap((job, i) => (job.frame.codec === 'jpeg' || features[i] ? [i] : []));
  const settled: PromiseSettledResult<Generation>[] =
    ready.length === 0
      ? []
      : await deps.answerer.answerAll(
          ready.map((i) => {
            const { frame } = jobs[i]!;
            return {
              ...(frame.codec === 'jpeg' ? { jpeg: frame.image.jpeg } : { features: features[i]! }),
              manifest: model.manifest,
              prompt: frame.prompt ?? deps.defaultPrompt,
              deadline: jobs[i]!.deadline,
              ...(deps.signal && { signal: deps.signal }),
            };
          }),
        );
  const results = new Map(ready.map((i, k) => [i, settled[k]!]));
  return jobs.map((job, i) => {
    const result = results.get(i);
    if (!result) {
      return envelope(job, deps.workerId, { error: { code: 'answerer-failed', message: `cloud network failed: ${decodeFailure?.message}` } }, { queueMs: queueMs[i]!, decodeMs: job.decodeMs });
    }
    const base = { queueMs: queueMs[i]!, decodeMs: job.decodeMs, ...(job.frame.codec === 'neural-u8' && { cloudMs }) };
    if (result.status === 'rejected') {
      const error = result.reason as Error;
      return envelope(job, deps.workerId, { error: { code: errorCode(error), message: error.message } }, base);
    }
    const { text, tokens, timings } = result.value;
    return envelope(job, deps.workerId, { text, tokens }, { ...base, tailMs: timings.tailMs, languageModelMs: timings.languageMs });
  });
}
