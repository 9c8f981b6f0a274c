// Seeded fuzzing of every parser that takes input from outside: answer and
// command JSON (from the broker), both configuration schemas (from files,
// environment and flags), and the MJPEG splitter (from a camera child). Each
// input ends as a value or as the parser's own error naming what was wrong;
// nothing else is ever thrown, and the splitter's memory stays bounded.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { cloudConfigSchema } from '../../cloud/config/schema.ts';
import { AnswerError, encodeAnswer, parseAnswer } from '../../protocol/answer.ts';
import { FrameIdGenerator } from '../../protocol/wire/frame-id.ts';
import { CommandError, parseCommand } from '../../protocol/commands.ts';
import { ConfigError, validateConfig } from '../../daemon/config/load.ts';
import { MjpegSplitter } from '../../daemon/sources/mjpeg-splitter.ts';
import { validateWith } from '../../runtime/layered-config.ts';

const RUNS = 5_000;

/** Valid documents with random fields replaced, removed or retyped, plus arbitrary JSON. */
function mutatedJson(valid: Record<string, unknown>): fc.Arbitrary<string> {
  const keys = Object.keys(valid);
  const mutation = fc.record({
    key: fc.constantFrom(...keys, 'extra'),
    value: fc.oneof(fc.jsonValue(), fc.constant(undefined), fc.string({ maxLength: 3000 })),
  });
  const mutated = fc.array(mutation, { minLength: 1, maxLength: 4 }).map((changes) => {
    const copy: Record<string, unknown> = structuredClone(valid);
    for (const { key, value } of changes) copy[key] = value;
    return JSON.stringify(copy);
  });
  return fc.oneof(
    mutated,
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 200 }),
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
  );
}

function classify(run: () => unknown, expected: new (...args: never[]) => Error, counts: Record<string, number>): void {
  try {
    run();
    counts.accepted = (counts.accepted ?? 0) + 1;
  } catch (error) {
    assert.ok(error instanceof expected, `unexpected ${(error as Error).name}: ${(error as Error).message}`);
    assert.ok((error as Error).message.length > 0 && (error as Error).message.length < 4000);
    counts.refused = (counts.refused ?? 0) + 1;
  }
}

describe('hostile input', () => {
  it(`answer JSON: ${RUNS} cases, AnswerError or a valid answer`, () => {
    const valid = JSON.parse(
      encodeAnswer({
        v: 1,
        frameId: new FrameIdGenerator().next(),
        device: 'cam-1',
        modelId: 'a'.repeat(32),
        sequence: 1,
        prompt: null,
        text: 'ok',
        tokens: 1,
        timings: { totalMs: 1 },
        answeredAt: new Date().toISOString(),
      }).toString(),
    );
    const counts: Record<string, number> = {};
    fc.assert(
      fc.property(mutatedJson(valid), (text) => classify(() => parseAnswer(text), AnswerError, counts)),
      { numRuns: RUNS, seed: 11 },
    );
    assert.ok(counts.refused! > RUNS / 2 && counts.accepted! > 0, JSON.stringify(counts));
  });

  it('oversize answers and commands are refused by size before parsing', () => {
    const huge = JSON.stringify({ command: 'set-prompt', prompt: 'x'.repeat(70_000) });
    assert.throws(() => parseCommand(huge), /command: 70\d{3} bytes, at most 65536 allowed/);
    assert.throws(() => parseAnswer(Buffer.alloc(1 << 20, 0x20)), /answer: 1048576 bytes, at most 65536 allowed/);
  });

  it(`command JSON: ${RUNS} cases, CommandError or a valid command`, () => {
    const counts: Record<string, number> = {};
    fc.assert(
      fc.property(mutatedJson({ command: 'set-interval', intervalMs: 1000 }), (text) => classify(() => parseCommand(text), CommandError, counts)),
      { numRuns: RUNS, seed: 12 },
    );
    assert.ok(counts.refused! > RUNS / 2 && counts.accepted! > 0, JSON.stringify(counts));
  });

  it(`edge and cloud configuration: ${RUNS} cases each, ConfigError naming a path or a valid config`, () => {
    const edge = { device: { id: 'cam-1' }, model: { path: 'm' }, camera: { type: 'directory', path: 'd' }, outbox: { path: 'o.db' }, mqtt: { url: 'mqtt://b' } };
    const cloud = { models: { paths: ['m'] }, answerer: { type: 'local', qwen: 'q' }, mqtt: { url: 'mqtt://b' }, dedup: { path: 'd.db' } };
    for (const [valid, validate, seed] of [
      [edge, (tree: Record<string, unknown>) => validateConfig(tree), 13],
      [cloud, (tree: Record<string, unknown>) => validateWith(cloudConfigSchema, tree), 14],
    ] as const) {
      const counts: Record<string, number> = {};
      fc.assert(
        fc.property(mutatedJson(valid), (text) => {
          let tree: unknown;
          try {
            tree = JSON.parse(text);
          } catch {
            return; // not JSON: the file reader's error, tested with the loaders
          }
          classify(() => validate(tree as Record<string, unknown>), ConfigError, counts);
        }),
        { numRuns: RUNS, seed },
      );
      assert.ok(counts.refused! > 0, JSON.stringify(counts));
    }
  });

  it('MJPEG splitter: random streams with stray markers never throw and never buffer beyond the bound', () => {
    const marker = fc.constantFrom(Buffer.from([0xff, 0xd8]), Buffer.from([0xff, 0xd9]), Buffer.from([0xff, 0xda]), Buffer.from([0xff]));
    const chunk = fc.oneof(
      fc.uint8Array({ maxLength: 3000 }).map((b) => Buffer.from(b)),
      marker,
    );
    let frames = 0;
    fc.assert(
      fc.property(fc.array(chunk, { maxLength: 60 }), (chunks) => {
        const splitter = new MjpegSplitter(4096);
        for (const piece of chunks) {
          for (const jpeg of splitter.push(piece)) {
            frames++;
            assert.ok(jpeg.length <= 4096 && jpeg[0] === 0xff && jpeg[1] === 0xd8); // an unterminated one ends at the next SOI; the decoder refuses it
          }
          assert.ok(splitter.bufferedBytes <= 4096 + piece.length, `buffered ${splitter.bufferedBytes}`);
        }
      }),
      { numRuns: 2_000, seed: 15 },
    );
    assert.ok(frames > 0, 'some random streams did contain complete JPEG frames');
  });
});
