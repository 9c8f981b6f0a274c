import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AnswerError, encodeAnswer, parseAnswer, type AnswerEnvelope } from '../../protocol/answer.ts';
import { FrameIdGenerator } from '../../protocol/wire/frame-id.ts';

const base: AnswerEnvelope = {
  v: 1,
  frameId: new FrameIdGenerator().next(),
  device: 'cam1',
  modelId: '0123456789abcdef0123456789abcdef',
  sequence: 3,
  prompt: 'What is this?',
  text: 'A cat on a sofa.',
  tokens: 6,
  timings: { queueMs: 1, decodeMs: 0.2, cloudMs: 30, tailMs: 12, languageModelMs: 300, totalMs: 343.2 },
  answeredAt: '2026-11-26T06:00:00.000Z',
};

describe('answer envelope', () => {
  it('round trips an answer and an error answer', () => {
    assert.deepEqual(parseAnswer(encodeAnswer(base)), base);
    const { text: _text, tokens: _tokens, ...rest } = base;
    const failed: AnswerEnvelope = { ...rest, error: { code: 'unknown-model', message: 'no model 0123…' } };
    assert.deepEqual(parseAnswer(encodeAnswer(failed)), failed);
  });

  it('echoes the request id of an ask; absent and null mean a scheduled frame', () => {
    assert.deepEqual(parseAnswer(encodeAnswer({ ...base, requestId: 'req:7' })).requestId, 'req:7');
    assert.equal(parseAnswer(encodeAnswer({ ...base, requestId: null })).requestId, null);
    assert.equal('requestId' in parseAnswer(encodeAnswer(base)), false);
    assert.throws(() => parseAnswer(JSON.stringify({ ...base, requestId: 'a b' })), /answer: requestId/);
    assert.throws(() => parseAnswer(JSON.stringify({ ...base, requestId: 'a'.repeat(65) })), /answer: requestId/);
  });

  it('names the offending path', () => {
    assert.throws(() => parseAnswer('{'), /answer: not JSON/);
    assert.throws(() => parseAnswer(JSON.stringify({ ...base, frameId: 'x' })), /answer: frameId: expected a UUIDv7/);
    assert.throws(() => parseAnswer(JSON.stringify({ ...base, timings: { totalMs: -1 } })), /timings\.totalMs/);
    assert.throws(() => parseAnswer(JSON.stringify({ ...base, error: { code: 'bad-frame', message: 'm' } })), /exactly one of text or error/);
    assert.throws(() => parseAnswer(JSON.stringify({ ...base, extra: 1 })), AnswerError);
  });
});
