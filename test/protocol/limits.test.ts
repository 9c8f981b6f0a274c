// One prompt limit, in bytes, for commands, settings and the wire format: any
// prompt a command or the config accepts fits in a frame, and a prompt that
// does not fit is refused where it enters (the command or the setting), not
// later, frame after frame, in the pipeline.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CommandError, commandSchema, parseCommand } from '../../protocol/commands.ts';
import { PROMPT_MAX_BYTES, promptText } from '../../protocol/limits.ts';
import { decodeFrame, encodeFrame } from '../../protocol/wire/frame.ts';
import { configSchema as edgeConfigSchema } from '../../daemon/config/schema.ts';
import { sampleFrame } from '../helpers/frames.ts';

const euros = (n: number) => '€'.repeat(n); // 3 bytes each

describe('prompt limit in bytes', () => {
  it('refuses a set-prompt of 1,024 "€" (3,072 bytes) by the prompt field, and takes 341 (1,023 bytes)', () => {
    assert.throws(
      () => parseCommand(JSON.stringify({ command: 'set-prompt', prompt: euros(1024) })),
      (error: Error) => {
        assert.ok(error instanceof CommandError);
        assert.match(error.message, /prompt: 3072 bytes of UTF-8, at most 1024 allowed/);
        return true;
      },
    );
    assert.deepEqual(parseCommand(JSON.stringify({ command: 'set-prompt', prompt: euros(341) })), { command: 'set-prompt', prompt: euros(341) });
  });

  it('refuses the same prompt in the edge settings, naming capture.prompt', () => {
    const result = edgeConfigSchema.safeParse({ capture: { prompt: euros(342) } });
    assert.equal(result.success, false);
    assert.ok(result.error!.issues.some((issue) => issue.path.join('.') === 'capture.prompt' && /1026 bytes of UTF-8, at most 1024/.test(issue.message)));
  });

  it('encodes every prompt a command accepts into a frame, and none that it refuses are shorter than the limit', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 1100 }), (prompt) => {
        const accepted = commandSchema.safeParse({ command: 'set-prompt', prompt }).success;
        assert.equal(accepted, promptText.safeParse(prompt).success);
        assert.equal(accepted, Buffer.byteLength(prompt) <= PROMPT_MAX_BYTES);
        if (accepted && prompt.length > 0 && prompt.isWellFormed()) {
          const frame = decodeFrame(encodeFrame(sampleFrame({ prompt })));
          assert.equal(frame.prompt, prompt);
        }
      }),
      { seed: 15, numRuns: 500 },
    );
  });
});
