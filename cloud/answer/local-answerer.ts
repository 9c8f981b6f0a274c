/**
 * The in-process answerer: the vision tail, then Qwen2.5-VL's language model
 * through transformers.js (embed_tokens.onnx + decoder_model_merged.onnx),
 * fully offline from a local folder. The image embeddings go in where the
 * library would call its own vision encoder, so image_grid_thw reaches
 * get_rope_index and the 3D rotary positions are the model's own.
 */
import { readFile } from 'node:fs/promises';
import type { Manifest } from '../../protocol/manifest/schema.ts';
import type { AnswerRequest, Answerer, Generation } from './answerer.ts';
import { AnswererError, checkStillWanted } from './errors.ts';
import { buildPrompt, type ChatTokenizer } from './prompt.ts';
import { PromptGuard, withAcceptedPrompts } from './prompt-guard.ts';
import { openQwenFolder, type QwenFolder } from './qwen-folder.ts';
import { VisionTails } from './vision-tail.ts';

type Transformers = typeof import('@huggingface/transformers');
type CausalModel = Awaited<ReturnType<Transformers['Qwen2_5_VLForCausalLM']['from_pretrained']>>;
type QwenTokenizer = ChatTokenizer & { decode(ids: bigint[], options: { skip_special_tokens: boolean }): string };

export interface LocalAnswererOptions {
  /** Hugging Face Qwen2.5-VL folder with onnx/ beside config.json. */
  qwen: string;
  /** onnxruntime execution provider for the tail and the language model. */
  device: 'cpu' | 'cuda';
  /** Weights variant of the language model files: fp32 = decoder_model_merged.onnx, q4 = ..._q4.onnx. */
  dtype: 'fp32' | 'fp16' | 'q8' | 'q4' | 'q4f16';
  maxNewTokens: number;
  /** Longest question accepted, in tokens (prompt-guard.ts). */
  maxPromptTokens: number;
  /** Tokens that end an answer, besides the ones in generation_config.json. */
  stopTokens: string[];
  intraOpThreads?: number;
}

async function loadTransformers(): Promise<Transformers> {
  const transformers = await import('@huggingface/transformers');
  transformers.env.allowRemoteModels = false; // never reach for the Hugging Face hub
  transformers.env.allowLocalModels = true;
  transformers.env.localModelPath = ''; // model names are absolute folder paths
  return transformers;
}

async function chatTemplateOverride(folder: string): Promise<string | undefined> {
  try {
    const json = JSON.parse(await readFile(`${folder}/chat_template.json`, 'utf8')) as { chat_template?: unknown };
    return typeof json.chat_template === 'string' ? json.chat_template : undefined;
  } catch {
    return undefined; // tokenizer_config.json's template applies
  }
}

export class LocalAnswerer implements Answerer {
  readonly description: string;
  readonly #options: LocalAnswererOptions;
  readonly #folder: QwenFolder;
  readonly #tails: VisionTails;
  readonly #transformers: Transformers;
  readonly #tokenizer: ChatTokenizer & { decode(ids: number[] | bigint[], options: { skip_special_tokens: boolean }): string };
  readonly #model: CausalModel;
  readonly #chatTemplate: string | undefined;
  readonly #stopIds: number[];
  readonly #guard: PromptGuard;
  /** The language model runs one request at a time; later requests wait here. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(init: {
    options: LocalAnswererOptions;
    folder: QwenFolder;
    tails: VisionTails;
    transformers: Transformers;
    tokenizer: QwenTokenizer;
    model: CausalModel;
    chatTemplate: string | undefined;
    stopIds: number[];
    guard: PromptGuard;
  }) {
    this.#options = init.options;
    this.#folder = init.folder;
    this.#tails = init.tails;
    this.#transformers = init.transformers;
    this.#tokenizer = init.tokenizer;
    this.#model = init.model;
    this.#chatTemplate = init.chatTemplate;
    this.#stopIds = init.stopIds;
    this.#guard = init.guard;
    this.description = `in-process Qwen2.5-VL (${init.folder.directory}, ${init.options.device}, ${init.options.dtype})`;
  }

  static async open(options: LocalAnswererOptions): Promise<LocalAnswerer> {
    const folder = await openQwenFolder(options.qwen);
    const transformers = await loadTransformers();
    const source = { local_files_only: true };
    const name = folder.directory;
    let tokenizer: QwenTokenizer;
    let model: CausalModel;
    try {
      tokenizer = (await transformers.AutoTokenizer.from_pretrained(name, source)) as unknown as QwenTokenizer;
    } catch (error) {
      throw new AnswererError('model-files', `${folder.directory}: cannot load the tokenizer (${(error as Error).message})`);
    }
    try {
      model = await transformers.Qwen2_5_VLForCausalLM.from_pretrained(name, {
        ...source,
        device: options.device,
        dtype: options.dtype,
        session_options: { intraOpNumThreads: options.intraOpThreads ?? 0 },
      });
    } catch (error) {
      throw new AnswererError(
        'model-files',
        `${folder.directory}/onnx: cannot load the language model (${(error as Error).message}); expected embed_tokens and decoder_model_merged ONNX files, see cloud/README.md`,
      );
    }
    const stopIds = new Set<number>();
    for (const token of options.stopTokens) {
      const ids = tokenizer.encode(token, { add_special_tokens: false });
      if (ids.length !== 1) throw new AnswererError('model-files', `stop token ${JSON.stringify(token)} is ${ids.length} tokens in this tokenizer, expected exactly one`);
      stopIds.add(ids[0]!);
    }
    const generationEos = (model as unknown as { generation_config?: { eos_token_id?: number | number[] } }).generation_config?.eos_token_id;
    for (const id of [generationEos ?? []].flat()) stopIds.add(id);
    const tails = new VisionTails(folder, { executionProviders: [options.device], intraOpThreads: options.intraOpThreads });
    const chatTemplate = await chatTemplateOverride(folder.directory);
    const guard = await PromptGuard.forFolder(folder.directory, tokenizer, options.maxPromptTokens);
    return new LocalAnswerer({ options, folder, tails, transformers, tokenizer, model, chatTemplate, stopIds: [...stopIds], guard });
  }

  async prepare(manifests: readonly Manifest[]): Promise<void> {
    for (const manifest of manifests) await this.#tails.prepare(manifest);
  }

  answerAll(requests: readonly AnswerRequest[]): Promise<PromiseSettledResult<Generation>[]> {
    return withAcceptedPrompts(this.#guard, requests, (accepted) => this.#answerAccepted(accepted));
  }

  async #answerAccepted(requests: readonly AnswerRequest[]): Promise<PromiseSettledResult<Generation>[]> {
    const tails = await this.#tails.runRequests(requests);
    const results: PromiseSettledResult<Generation>[] = [];
    // One generation at a time: the language model already uses every core for one sequence on a CPU.
    for (const [i, tail] of tails.entries()) {
      try {
        if ('error' in tail) throw tail.error;
        results.push({ status: 'fulfilled', value: await this.#generate(requests[i]!, tail.embeds, tail.tailMs) });
      } catch (error) {
        results.push({ status: 'rejected', reason: error });
      }
    }
    return results;
  }

  #generate(request: AnswerRequest, embeds: Float32Array, tailMs: number): Promise<Generation> {
    const run = this.#queue.then(() => this.#generateNow(request, embeds, tailMs));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #generateNow(request: AnswerRequest, embeds: Float32Array, tailMs: number): Promise<Generation> {
    checkStillWanted(request.signal, request.deadline);
    const { Tensor, StoppingCriteria } = this.#transformers;
    const width = this.#folder.textHiddenSize;
    const imageTokens = embeds.length / width;
    const prompt = buildPrompt(this.#tokenizer, request.prompt, imageTokens, this.#folder.imageTokenId, this.#chatTemplate);
    const grid = request.manifest.target.gridThw;
    const imageEmbeds = new Tensor('float32', embeds, [imageTokens, width]);
    // The library calls encode_image only when pixel_values is present: this placeholder makes it call ours.
    const model = this.#model as unknown as { encode_image: () => Promise<unknown>; generate: (args: object) => Promise<{ tolist(): bigint[][] }> };
    model.encode_image = async () => imageEmbeds;
    let interrupted = false;
    class StillWanted extends StoppingCriteria {
      override _call(inputIds: unknown[][]): boolean[] {
        interrupted = Boolean(request.signal?.aborted) || (request.deadline !== undefined && Date.now() > request.deadline);
        return inputIds.map(() => interrupted);
      }
    }
    const started = performance.now();
    const output = await model.generate({
      input_ids: new Tensor('int64', BigInt64Array.from(prompt.inputIds, BigInt), [1, prompt.inputIds.length]),
      attention_mask: new Tensor('int64', new BigInt64Array(prompt.inputIds.length).fill(1n), [1, prompt.inputIds.length]),
      pixel_values: new Tensor('float32', new Float32Array(1), [1, 1]),
      image_grid_thw: new Tensor('int64', BigInt64Array.from(grid, BigInt), [1, 3]),
      max_new_tokens: this.#options.maxNewTokens,
      do_sample: false,
      repetition_penalty: 1.0,
      eos_token_id: this.#stopIds,
      stopping_criteria: [new StillWanted()],
    });
    const languageMs = performance.now() - started;
    checkStillWanted(request.signal, request.deadline);
    if (interrupted) throw new AnswererError('cancelled', 'answer interrupted');
    const produced = output.tolist()[0]!.slice(prompt.inputIds.length);
    const last = Number(produced.at(-1));
    return {
      text: this.#tokenizer.decode(produced, { skip_special_tokens: true }),
      tokens: produced.length,
      finish: this.#stopIds.includes(last) ? 'stop' : 'length',
      timings: { tailMs, languageMs },
    };
  }

  async close(): Promise<void> {
    await this.#queue;
    await this.#tails.close();
    await (this.#model as unknown as { dispose(): Promise<unknown> }).dispose();
  }
}
