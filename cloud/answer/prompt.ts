/**
 * The prompt a Qwen2.5-VL model expects for one image and one question: its
 * own chat template around `<|vision_start|><|image_pad|><|vision_end|>`, the
 * single pad expanded to one `<|image_pad|>` per image-embedding row (what the
 * processor does for pixel inputs).
 */
import { AnswererError } from './errors.ts';

export const IMAGE_PAD = '<|image_pad|>';

/** The slice of a transformers.js tokenizer this module uses. */
export interface ChatTokenizer {
  apply_chat_template(messages: object[], options: { tokenize: false; add_generation_prompt: true; chat_template?: string }): string | unknown;
  encode(text: string, options?: { add_special_tokens?: boolean }): number[];
}

export interface BuiltPrompt {
  text: string;
  inputIds: number[];
}

/** Text of the chat prompt, with one image pad per embedding row. The question has passed the PromptGuard (prompt-guard.ts). */
export function promptText(tokenizer: ChatTokenizer, question: string, imageTokens: number, chatTemplate?: string): string {
  const messages = [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: question }] }];
  const text = tokenizer.apply_chat_template(messages, { tokenize: false, add_generation_prompt: true, ...(chatTemplate ? { chat_template: chatTemplate } : {}) });
  if (typeof text !== 'string' || text.split(IMAGE_PAD).length !== 2) {
    throw new AnswererError('model-files', `the chat template does not place exactly one ${IMAGE_PAD} for an image content part; it is not Qwen2.5-VL's`);
  }
  return text.replace(IMAGE_PAD, IMAGE_PAD.repeat(imageTokens));
}

/** Token ids of the prompt, checked to hold exactly imageTokens image pads. */
export function buildPrompt(tokenizer: ChatTokenizer, question: string, imageTokens: number, imageTokenId: number, chatTemplate?: string): BuiltPrompt {
  const text = promptText(tokenizer, question, imageTokens, chatTemplate);
  const inputIds = tokenizer.encode(text, { add_special_tokens: false });
  const pads = inputIds.filter((id) => id === imageTokenId).length;
  if (pads !== imageTokens) {
    throw new AnswererError('model-files', `the tokenizer turned ${imageTokens} ${IMAGE_PAD} into ${pads} tokens of id ${imageTokenId}; tokenizer.json and config.json image_token_id disagree`);
  }
  return { text, inputIds };
}
