/**
 * What the cloud worker asks of a language backend: decoded layer-L features
 * of one frame in, the model's answer to a prompt out. Backends: the
 * in-process transformers.js model (local-answerer.ts) and a vLLM server
 * (vllm-answerer.ts); both run the vision tail here first.
 */
import type { Manifest } from '../../protocol/manifest/schema.ts';

/**
 * What the vision stage starts from: features decoded from bottleneck tokens
 * (after the manifest's rescale: target.tokens x target.hiddenSize, processor
 * order), or the image of a JPEG frame, which takes Qwen's whole vision tower.
 */
export type VisionInput = { features: Float32Array; jpeg?: never } | { jpeg: Uint8Array; features?: never };

export type AnswerRequest = VisionInput & {
  manifest: Manifest;
  prompt: string;
  /** Aborts this request; an aborted request rejects with AnswererError 'cancelled'. */
  signal?: AbortSignal;
  /** Epoch milliseconds after which the answer is no longer wanted ('deadline'). */
  deadline?: number;
};

export interface AnswerTimings {
  /** Vision tail: features -> image embeddings (or the whole tower for a JPEG frame). */
  tailMs: number;
  /** Language model: prompt + embeddings -> answer tokens. */
  languageMs: number;
}

/**
 * What the language model produced for one request: the answerer's result.
 * (The worker wraps it in the answer envelope of protocol/answer.ts, the only
 * thing called an answer on the wire.)
 */
export interface Generation {
  text: string;
  /** New tokens generated (the stop token included when one ended the answer). */
  tokens: number;
  /** Why generation ended: a stop token or the token limit. */
  finish: 'stop' | 'length';
  timings: AnswerTimings;
}

export interface Answerer {
  /** Human-readable backend description for logs and `check`. */
  readonly description: string;
  /** Loads what the backend needs for these models, failing early with a clear error. */
  prepare(manifests: readonly Manifest[]): Promise<void>;
  /**
   * Answers several requests; the vision tail runs once for all of them and
   * the backend batches the language model where it can. Results keep the
   * order of the requests, each settling on its own.
   */
  answerAll(requests: readonly AnswerRequest[]): Promise<PromiseSettledResult<Generation>[]>;
  close(): Promise<void>;
}

/** One request: the batch path with a batch of one. */
export async function answerOne(answerer: Answerer, request: AnswerRequest): Promise<Generation> {
  const [result] = await answerer.answerAll([request]);
  if (result!.status === 'rejected') throw result!.reason;
  return result!.value;
}
