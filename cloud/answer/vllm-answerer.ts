/**
 * The scale-out answerer: the vision tail runs here, the language model on an
 * OpenAI-compatible vLLM server started with `--enable-mm-embeds`. The merged
 * image embeddings travel as an `image_embeds` content part, encoded as .npy
 * (vLLM releases after 2026-03-25; see cloud/README.md), with image_grid_thw
 * so vLLM computes the 3D rotary positions itself.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Manifest } from '../../protocol/manifest/schema.ts';
import type { AnswerRequest, Answerer, Generation } from './answerer.ts';
import { AnswererError, checkStillWanted } from './errors.ts';
import { encodeNpy } from './npy.ts';
import { PromptGuard, withAcceptedPrompts } from './prompt-guard.ts';
import { openQwenFolder, type QwenFolder } from './qwen-folder.ts';
import { VisionTails } from './vision-tail.ts';

export interface VllmAnswererOptions {
  /** Qwen2.5-VL folder holding config.json, the tokenizer files and the vision tails (the weights may stay on the vLLM box). */
  qwen: string;
  /** Server root, e.g. http://gpu-box:8000/v1 */
  baseUrl: string;
  /** Served model name (vLLM's --served-model-name, or the model path it was started with). */
  model: string;
  apiKey?: string;
  maxNewTokens: number;
  /** Longest question accepted, in tokens (prompt-guard.ts). */
  maxPromptTokens: number;
  stopTokens: string[];
  /** One HTTP attempt. */
  timeoutMs: number;
  /** Further attempts after a connection failure, a timeout, 429 or 5xx. */
  retries: number;
  /** First backoff; doubles per attempt, with jitter. */
  backoffMs: number;
  device: 'cpu' | 'cuda';
}

interface ChatCompletion {
  choices: { message: { content: string | null }; finish_reason: string | null }[];
  usage?: { completion_tokens?: number };
}

function isChatCompletion(value: unknown): value is ChatCompletion {
  const choices = (value as ChatCompletion | null)?.choices;
  return Array.isArray(choices) && choices.length > 0 && typeof choices[0]?.message === 'object' && (typeof choices[0].message.content === 'string' || choices[0].message.content === null);
}

function serverMessage(body: string): string {
  try {
    const json = JSON.parse(body) as { message?: unknown; error?: { message?: unknown } | string; detail?: unknown };
    const message = json.message ?? (typeof json.error === 'string' ? json.error : json.error?.message) ?? json.detail;
    if (message !== undefined) return typeof message === 'string' ? message : JSON.stringify(message);
  } catch {
    // not JSON: show the text
  }
  return body.slice(0, 300);
}

export class VllmAnswerer implements Answerer {
  readonly description: string;
  readonly #options: VllmAnswererOptions;
  readonly #folder: QwenFolder;
  readonly #tails: VisionTails;
  readonly #fetch: typeof fetch;

  readonly #guard: PromptGuard;

  private constructor(options: VllmAnswererOptions, folder: QwenFolder, guard: PromptGuard, fetchImpl: typeof fetch) {
    this.#options = options;
    this.#guard = guard;
    this.#folder = folder;
    this.#tails = new VisionTails(folder, { executionProviders: [options.device] });
    this.#fetch = fetchImpl;
    this.description = `vLLM ${options.model} at ${options.baseUrl}`;
  }

  static async open(options: VllmAnswererOptions, fetchImpl: typeof fetch = fetch): Promise<VllmAnswerer> {
    const folder = await openQwenFolder(options.qwen);
    const { AutoTokenizer, env } = await import('@huggingface/transformers');
    env.allowRemoteModels = false; // the tokenizer comes from the folder, never the hub
    let tokenizer: { encode(text: string, options?: { add_special_tokens?: boolean }): number[] };
    try {
      tokenizer = (await AutoTokenizer.from_pretrained(folder.directory, { local_files_only: true })) as unknown as typeof tokenizer;
    } catch (error) {
      throw new AnswererError('model-files', `${folder.directory}: cannot load the tokenizer (${(error as Error).message}); copy tokenizer.json and tokenizer_config.json from the model's folder`);
    }
    return new VllmAnswerer(options, folder, await PromptGuard.forFolder(folder.directory, tokenizer, options.maxPromptTokens), fetchImpl);
  }

  async prepare(manifests: readonly Manifest[]): Promise<void> {
    for (const manifest of manifests) await this.#tails.prepare(manifest);
  }

  answerAll(requests: readonly AnswerRequest[]): Promise<PromiseSettledResult<Generation>[]> {
    return withAcceptedPrompts(this.#guard, requests, (accepted) => this.#answerAccepted(accepted));
  }

  async #answerAccepted(requests: readonly AnswerRequest[]): Promise<PromiseSettledResult<Generation>[]> {
    const tails = await this.#tails.runRequests(requests);
    // vLLM batches concurrent requests itself (continuous batching): send them all at once.
    return Promise.allSettled(
      tails.map(async (tail, i) => {
        if ('error' in tail) throw tail.error;
        return this.#complete(requests[i]!, tail.embeds, tail.tailMs);
      }),
    );
  }

  #body(request: AnswerRequest, embeds: Float32Array): string {
    const width = this.#folder.textHiddenSize;
    const rows = embeds.length / width;
    const imageEmbeds = encodeNpy({ descr: '<f4', data: embeds, shape: [rows, width] }).toString('base64');
    const grid = encodeNpy({ descr: '<i8', data: BigInt64Array.from(request.manifest.target.gridThw, BigInt), shape: [1, 3] }).toString('base64');
    return JSON.stringify({
      model: this.#options.model,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image_embeds', image_embeds: { image_embeds: imageEmbeds, image_grid_thw: grid } },
            { type: 'text', text: request.prompt },
          ],
        },
      ],
      max_tokens: this.#options.maxNewTokens,
      temperature: 0,
      stop: this.#options.stopTokens.length > 0 ? this.#options.stopTokens : undefined,
    });
  }

  async #complete(request: AnswerRequest, embeds: Float32Array, tailMs: number): Promise<Generation> {
    const body = this.#body(request, embeds);
    const url = `${this.#options.baseUrl.replace(/\/+$/, '')}/chat/completions`;
    const started = performance.now();
    let lastError: AnswererError | undefined;
    for (let attempt = 0; attempt <= this.#options.retries; attempt++) {
      if (attempt > 0) {
        const delay = this.#options.backoffMs * 2 ** (attempt - 1) * (0.5 + Math.random());
        if (request.deadline !== undefined && Date.now() + delay > request.deadline) break;
        await sleep(delay, undefined, { signal: request.signal }).catch(() => undefined);
      }
      checkStillWanted(request.signal, request.deadline);
      try {
        const completion = await this.#post(url, body, request);
        const choice = completion.choices[0]!;
        return {
          text: choice.message.content ?? '',
          tokens: completion.usage?.completion_tokens ?? 0,
          finish: choice.finish_reason === 'length' ? 'length' : 'stop',
          timings: { tailMs, languageMs: performance.now() - started },
        };
      } catch (error) {
        if (!(error instanceof AnswererError) || !error.retryable) throw error;
        lastError = error;
      }
    }
    throw lastError ?? new AnswererError('deadline', `no time left to retry ${url} before the deadline`);
  }

  async #post(url: string, body: string, request: AnswerRequest): Promise<ChatCompletion> {
    const timeout = request.deadline === undefined ? this.#options.timeoutMs : Math.max(1, Math.min(this.#options.timeoutMs, request.deadline - Date.now()));
    const signals = [AbortSignal.timeout(timeout), ...(request.signal ? [request.signal] : [])];
    let response: Response;
    try {
      response = await this.#fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(this.#options.apiKey ? { authorization: `Bearer ${this.#options.apiKey}` } : {}) },
        body,
        signal: AbortSignal.any(signals),
      });
    } catch (error) {
      checkStillWanted(request.signal, request.deadline);
      const reason = (error as Error).name === 'TimeoutError' ? `no reply within ${timeout} ms` : ((error as Error & { cause?: Error }).cause?.message ?? (error as Error).message);
      throw new AnswererError('remote-unreachable', `${url}: ${reason}`);
    }
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw new AnswererError('remote-unreachable', `${url}: reply cut off (${(error as Error).message})`);
    }
    if (!response.ok) {
      const code = response.status === 429 || response.status >= 500 ? 'remote-unreachable' : 'remote-refused';
      throw new AnswererError(code, `${url}: HTTP ${response.status}: ${serverMessage(text)}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new AnswererError('remote-malformed', `${url}: reply is not JSON: ${JSON.stringify(text.slice(0, 120))}`);
    }
    if (!isChatCompletion(json)) throw new AnswererError('remote-malformed', `${url}: reply has no choices[0].message.content: ${text.slice(0, 200)}`);
    return json;
  }

  async close(): Promise<void> {
    await this.#tails.close();
  }
}
