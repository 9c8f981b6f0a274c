import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertDeviceId, deviceIdProblem, DeviceIdError } from '../../protocol/device-id.ts';
import { DEFAULT_TOPIC_PREFIX, TopicError, TopicMap } from '../../protocol/topics.ts';

describe('device ids', () => {
  it('accept plain topic-safe names', () => {
    for (const id of ['cam1', 'rock5b-kitchen_01', 'A.b-c_d', 'x'.repeat(64)]) assert.equal(deviceIdProblem(id), null, id);
  });

  it('reject wildcards, separators, empty, $ and over-long ids with the reason', () => {
    const cases: Array<[unknown, RegExp]> = [
      ['', /empty/],
      ['a+b', /'\+'/],
      ['a#', /'#'/],
      ['a/b', /'\/'/],
      ['$SYS', /must start with a letter or digit/],
      ['x'.repeat(65), /at most 64/],
      ['ümlaut', /only letters/],
      [42, /expected a string/],
    ];
    for (const [id, reason] of cases) {
      assert.match(deviceIdProblem(id) ?? '', reason, String(id));
      assert.throws(
        () => assertDeviceId(id, 'device.id'),
        (e: unknown) => e instanceof DeviceIdError && /^device\.id: /.test(e.message),
      );
    }
  });
});

describe('topic map', () => {
  it('builds the four topics under the default prefix', () => {
    const topics = new TopicMap();
    assert.equal(topics.frame('cam1'), `${DEFAULT_TOPIC_PREFIX}/cam1/frame`);
    assert.equal(topics.answer('cam1'), 'splitoculo/v1/cam1/answer');
    assert.equal(topics.status('cam1'), 'splitoculo/v1/cam1/status');
    assert.equal(topics.command('cam1'), 'splitoculo/v1/cam1/command');
    assert.equal(topics.preview('cam1'), 'splitoculo/v1/cam1/preview');
    assert.equal(topics.allDevices('preview'), 'splitoculo/v1/+/preview');
    assert.equal(topics.allDevices('frame'), 'splitoculo/v1/+/frame');
    assert.equal(topics.allDevices('frame', 'workers'), '$share/workers/splitoculo/v1/+/frame');
  });

  it('parses its own topics and nothing else', () => {
    const topics = new TopicMap('site-a/oculo');
    assert.deepEqual(topics.parse('site-a/oculo/cam-7/answer'), { deviceId: 'cam-7', kind: 'answer' });
    assert.deepEqual(topics.parse('site-a/oculo/cam-7/preview'), { deviceId: 'cam-7', kind: 'preview' });
    for (const other of ['site-a/oculo/cam-7', 'site-a/oculo/cam-7/frame/x', 'site-b/oculo/cam-7/frame', 'site-a/oculo/+/frame', 'site-a/oculo/cam-7/video']) {
      assert.equal(topics.parse(other), null, other);
    }
  });

  it('refuses bad prefixes and ids', () => {
    for (const prefix of ['', 'a/+/b', 'a/#', '$SYS/x', 'a//b', '/a', 'a/']) assert.throws(() => new TopicMap(prefix), TopicError, prefix);
    assert.throws(() => new TopicMap().frame('a/b'), DeviceIdError);
    assert.throws(() => new TopicMap().allDevices('frame', 'bad/group'), TopicError);
  });
});
