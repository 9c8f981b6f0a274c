// 10,000 random and mutated frames straight into the worker's intake (wire
// decode, device and model checks): every one ends as work or as an error
// answer with a code, none throws.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import pino from 'pino';
import { ANSWER_ERROR_CODES } from '../../protocol/answer.ts';
import { loadModel } from '../../protocol/manifest/load.ts';
import { TopicMap } from '../../protocol/topics.ts';
import { FrameIdGenerator } from '../../protocol/wire/frame-id.ts';
import { encodeFrame } from '../../protocol/wire/frame.ts';
import { quantise } from '../../protocol/wire/quantise.ts';
import { takeFrame } from '../../cloud/worker/frame-intake.ts';
import { ModelRegistry } from '../../cloud/worker/model-registry.ts';
import { reseal, seededTokens } from '../helpers/frames.ts';
import { TINY_MODEL_DIR } from '../helpers/paths.ts';

describe('worker intake under fuzzing', () => {
  const topics = new TopicMap();
  let models: ModelRegistry;
  let valid: Uint8Array;
  before(async () => {
    models = await ModelRegistry.open([TINY_MODEL_DIR], { threads: 1, log: pino({ level: 'silent' }) });
    const modelId = (await loadModel(TINY_MODEL_DIR, [])).manifest.modelId;
    valid = encodeFrame({
      codec: 'neural-u8',
      modelId,
      deviceId: 'cam-fuzz',
      frameId: new FrameIdGenerator().next(),
      sequence: 7,
      captureTimeMs: 1,
      clockUnreliable: false,
      prompt: 'What is here?',
      tokens: quantise(seededTokens(49, 64), 49, 64, 'per-token'),
    });
  });
  after(async () => models.close());

  function check(bytes: Uint8Array, counts: Map<string, number>): void {
    const intake = takeFrame('splitoculo/v1/cam-fuzz/frame', bytes, topics, models);
    const outcome = intake.ok ? 'ok' : intake.rejection === null ? 'ignored' : intake.rejection.code;
    if (!intake.ok && intake.rejection) {
      assert.ok((ANSWER_ERROR_CODES as readonly string[]).includes(intake.rejection.code));
      assert.equal(intake.rejection.deviceId, 'cam-fuzz');
      assert.ok(intake.rejection.message.length > 0);
    }
    counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
  }

  it('the valid frame is work', () => {
    const intake = takeFrame('splitoculo/v1/cam-fuzz/frame', valid, topics, models);
    assert.equal(intake.ok, true);
  });

  it('10,000 random and mutated frames: no crash, every one classified', () => {
    const counts = new Map<string, number>();
    const mutated = fc.tuple(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 }), fc.boolean(), fc.nat()).map(([flips, resealed, cut]) => {
      const bytes = Uint8Array.from(valid);
      for (const [at, mask] of flips) bytes[at % bytes.length]! ^= mask;
      const sliced = cut % 5 === 0 ? bytes.subarray(0, cut % bytes.length) : bytes;
      return resealed && sliced.length > 8 ? reseal(sliced) : sliced;
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 4096 }), mutated), (bytes) => check(bytes, counts)),
      { numRuns: 10_000, seed: 7 },
    );
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    assert.equal(total, 10_000);
    assert.ok((counts.get('bad-frame') ?? 0) > 5_000, JSON.stringify([...counts]));
    assert.equal(counts.get('ignored') ?? 0, 0);
  });
});
