// Token ids of the worker's prompt for one question (cloud/answer/prompt.ts with the folder's own
// tokenizer), so that models/fidelity.py's PyTorch greedy answers start from exactly what the
// worker feeds its language model. Prints {"inputIds": [...], "stopIds": [...]} as JSON.
//   node models/training/prompt_ids.ts <qwen folder> <image tokens> <question>
import { openQwenFolder } from '../../cloud/answer/qwen-folder.ts';
import { buildPrompt, type ChatTokenizer } from '../../cloud/answer/prompt.ts';

const [directory, tokens, question] = process.argv.slice(2);
if (!directory || !tokens || question === undefined) {
  console.error('usage: node models/training/prompt_ids.ts <qwen folder> <image tokens> <question>');
  process.exit(2);
}
const folder = await openQwenFolder(directory);
const { AutoTokenizer, env } = await import('@huggingface/transformers');
env.allowRemoteModels = false; // the tokenizer comes from the folder, never the hub
const tokenizer = (await AutoTokenizer.from_pretrained(folder.directory, { local_files_only: true })) as unknown as ChatTokenizer;
const { inputIds } = buildPrompt(tokenizer, question, Number(tokens), folder.imageTokenId);
const stopIds = tokenizer.encode('<|im_end|>', { add_special_tokens: false });
console.log(JSON.stringify({ inputIds, stopIds }));
