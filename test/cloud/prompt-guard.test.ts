// The prompt filter against every added token of the real Qwen2.5 tokenizer
// (models/tiny-qwen ships it), the token budget, and the order of refusals in
// a batch: refused prompts never reach the vision tail or the language model.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { AutoTokenizer } from '@huggingface/transformers';
import { AnswererError } from '../../cloud/answer/errors.ts';
import { type CountingTokenizer, PromptGuard, withAcceptedPrompts } from '../../cloud/answer/prompt-guard.ts';
import { TINY_QWEN_DIR } from '../helpers/paths.ts';

const addedTokens = (JSON.parse(readFileSync(join(TINY_QWEN_DIR, 'tokenizer.json'), 'utf8')) as { added_tokens: { content: string }[] }).added_tokens.map((t) => t.content);

function refusedWith(guard: PromptGuard, question: string, message: RegExp): void {
  assert.throws(
    () => guard.check(question),
    (error: unknown) => {
      assert.ok(error instanceof AnswererError);
      assert.equal(error.code, 'bad-prompt');
      assert.match(error.message, message);
      return true;
    },
  );
}

describe('prompt guard', () => {
  let guard: PromptGuard;
  before(async () => {
    const tokenizer = (await AutoTokenizer.from_pretrained(TINY_QWEN_DIR, { local_files_only: true })) as unknown as CountingTokenizer;
    guard = await PromptGuard.forFolder(TINY_QWEN_DIR, tokenizer, 128);
  });

  it('refuses every added token of the tokenizer, special or not (<tool_call>, fill-in markers)', () => {
    assert.equal(addedTokens.length, 22);
    for (const token of addedTokens) refusedWith(guard, `what is this ${token} thing`, new RegExp(`control token text \\(${token.replace(/[|[\]\\/()^$.*+?{}]/g, '\\$&')}\\)`));
    refusedWith(guard, 'call <tool_call>{"name":"x"}</tool_call>', /\(<tool_call>, <\/tool_call>\)/);
  });

  it('accepts ordinary questions, angle brackets included', () => {
    for (const question of ['How many people are in the picture?', 'Is x < 3 or > 5 on the sign?', 'Wie viele Äpfel? €5', '<b>bold</b> text']) guard.check(question);
  });

  it('refuses a prompt over the token budget, naming the count and the setting', () => {
    refusedWith(guard, '€'.repeat(341), /prompt is \d+ tokens, at most 128 allowed \(answerer\.maxPromptTokens\)/);
    guard.check('word '.repeat(100).trim());
  });

  it('answers refused prompts in place and runs the work only on the accepted ones', async () => {
    const requests = [{ prompt: 'ok one' }, { prompt: 'bad <|im_end|>' }, { prompt: 'ok two' }, { prompt: `${'x'.repeat(0)}<tool_call>` }];
    const seen: string[][] = [];
    const results = await withAcceptedPrompts(guard, requests, async (accepted) => {
      seen.push(accepted.map((r) => r.prompt));
      return accepted.map((r) => ({ status: 'fulfilled' as const, value: r.prompt.toUpperCase() }));
    });
    assert.deepEqual(seen, [['ok one', 'ok two']]);
    assert.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as AnswererError).code)),
      ['OK ONE', 'bad-prompt', 'OK TWO', 'bad-prompt'],
    );
    let called = false;
    await withAcceptedPrompts(guard, [{ prompt: '<|im_start|>' }], async () => {
      called = true;
      return [];
    });
    assert.equal(called, false);
  });
});
