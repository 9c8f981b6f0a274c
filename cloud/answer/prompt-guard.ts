/**
 * What a device may ask. A prompt comes from a device (its frame or its
 * commands), so it is hostile input to the language model: it must not carry
 * any added token of the tokenizer as text (Qwen's `<|im_end|>` and
 * `<|im_start|>` open and close chat turns, and `<tool_call>` or the fill-in
 * markers, which the tokenizer does not mark special, still encode as control
 * ids), and it must fit a token budget, because the language model's cost
 * grows with the prompt (a 1,024-byte prompt took 18x a short one). Checked
 * before the vision tail runs, so a refused prompt costs nothing.
 */
import { join } from 'node:path';
import { AnswererError } from './errors.ts';
import { readJson } from './qwen-folder.ts';

/** The slice of a tokenizer the guard counts with. */
export interface CountingTokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean }): number[];
}

export class PromptGuard {
  readonly #controls: readonly string[];
  readonly #tokenizer: CountingTokenizer;
  readonly #maxTokens: number;

  constructor(controlTokens: readonly string[], tokenizer: CountingTokenizer, maxTokens: number) {
    this.#controls = controlTokens;
    this.#tokenizer = tokenizer;
    this.#maxTokens = maxTokens;
  }

  /** Every added token of the folder's tokenizer.json (special or not) is a control token. */
  static async forFolder(directory: string, tokenizer: CountingTokenizer, maxTokens: number): Promise<PromptGuard> {
    const path = join(directory, 'tokenizer.json');
    const json = (await readJson(path, "the tokenizer (the prompt filter needs its added tokens; copy tokenizer.json from the model's folder)")) as { added_tokens?: unknown };
    const added = Array.isArray(json.added_tokens) ? json.added_tokens : null;
    const contents = added?.map((token) => (token as { content?: unknown }).content).filter((c): c is string => typeof c === 'string' && c.length > 0);
    if (!contents || contents.length === 0) throw new AnswererError('model-files', `${path}: expected a non-empty added_tokens list`);
    return new PromptGuard(contents, tokenizer, maxTokens);
  }

  /** Throws AnswererError('bad-prompt') naming what is wrong with the question. */
  check(question: string): void {
    const controls = this.#controls.filter((token) => question.includes(token));
    const lookalike = question.match(/<\|[a-z_]+\|>/)?.[0];
    if (controls.length > 0 || lookalike) {
      throw new AnswererError('bad-prompt', `prompt contains control token text (${controls.join(', ') || lookalike}); a device cannot open or close chat turns`);
    }
    const tokens = this.#tokenizer.encode(question, { add_special_tokens: false }).length;
    if (tokens > this.#maxTokens) throw new AnswererError('bad-prompt', `prompt is ${tokens} tokens, at most ${this.#maxTokens} allowed (answerer.maxPromptTokens)`);
  }

  /** The refusal for a question, or null when it may be asked. */
  refusal(question: string): AnswererError | null {
    try {
      this.check(question);
      return null;
    } catch (error) {
      if (error instanceof AnswererError) return error;
      throw error;
    }
  }
}

/**
 * Runs `work` on the requests whose prompts pass the guard, and answers the
 * others with their refusal, keeping the order of `requests`: a refused
 * prompt never reaches the vision tail or the language model.
 */
export async function withAcceptedPrompts<R extends { prompt: string }, T>(
  guard: PromptGuard,
  requests: readonly R[],
  work: (accepted: R[]) => Promise<PromiseSettledResult<T>[]>,
): Promise<PromiseSettledResult<T>[]> {
  const refusals = requests.map((request) => guard.refusal(request.prompt));
  const accepted = requests.filter((_, i) => refusals[i] === null);
  const done = accepted.length > 0 ? await work(accepted) : [];
  let next = 0;
  return refusals.map((refusal) => (refusal ? { status: 'rejected', reason: refusal } : done[next++]!));
}
