// The embedded broker's retained budget on its own: status documents in a
// pool of their own (junk elsewhere cannot crowd them out), every message at
// most a JSON document's size, replacements and deletions re-counted.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RetainedBudget } from '../../cloud/worker/retained-budget.ts';
import { TopicMap } from '../../protocol/topics.ts';

const limits = { status: { maxTopics: 3, maxBytes: 1000 }, other: { maxTopics: 2, maxBytes: 100 }, maxMessageBytes: 500 };

describe('retained budget', () => {
  it('keeps status documents in their own pool, others in a bounded one', () => {
    const budget = new RetainedBudget(new TopicMap(), limits);
    assert.deepEqual(
      ['a', 'b', 'c'].map((t) => budget.admit(`junk/${t}`, 40)),
      [true, true, false],
      'the other pool holds two topics',
    );
    assert.deepEqual(
      ['a', 'b', 'c', 'd'].map((d) => budget.admit(`splitoculo/v1/cam-${d}/status`, 100)),
      [true, true, true, false],
    );
    assert.equal(budget.topics, 5);
    assert.equal(budget.bytes, 380);
  });

  it('refuses a message over the size of a document, re-counts a replacement, frees on an empty message', () => {
    const budget = new RetainedBudget(new TopicMap(), limits);
    assert.equal(budget.admit('splitoculo/v1/cam/status', 501), false);
    assert.equal(budget.admit('splitoculo/v1/cam/status', 400), true);
    assert.equal(budget.admit('splitoculo/v1/cam/status', 300), true, 'a replacement counts its new size only');
    assert.equal(budget.bytes, 300);
    assert.equal(budget.admit('splitoculo/v1/cam/status', 0), true);
    assert.deepEqual([budget.topics, budget.bytes], [0, 0]);
    assert.equal(budget.admit('junk/x', 101), false, "over the other pool's bytes");
    assert.equal(budget.admit('splitoculo/v1/cam/frame', 10), true, 'frame topics are not status topics: the other pool');
  });
});
