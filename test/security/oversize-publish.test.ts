// The filter that cuts oversize PUBLISH packets out of a client's inbound
// bytes (runtime/oversize-publish.ts), over every way the bytes can be split
// into socket reads: what passes is exactly the packets within the limit,
// each oversize QoS 1 PUBLISH yields its packet id once, whole; anything else
// oversize is refused.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import mqttPacket from 'mqtt-packet';
import { Duplex } from 'node:stream';
import { OversizeFilteredStream, OversizePublishFilter } from '../../runtime/oversize-publish.ts';

const LIMIT = 1000;
const packet = (p: object) => mqttPacket.generate(p as mqttPacket.Packet, { protocolVersion: 4 });
const small1 = packet({ cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(100, 1), qos: 1, messageId: 5 });
const huge1 = packet({ cmd: 'publish', topic: 'x'.repeat(300), payload: Buffer.alloc(5000, 2), qos: 1, messageId: 0x1234, dup: true });
const huge0 = packet({ cmd: 'publish', topic: 'q', payload: Buffer.alloc(200_000, 3), qos: 0 });
const small2 = packet({ cmd: 'puback', messageId: 9 });
const stream = Buffer.concat([small1, huge1, small2, huge0, small1]);

function run(chunkSizes: () => number, limit = LIMIT) {
  const discarded: Array<[number, number | null]> = [];
  const refused: number[] = [];
  const filter = new OversizePublishFilter(limit, { discarded: (n, id) => discarded.push([n, id]), refused: (n) => refused.push(n) });
  const out: Buffer[] = [];
  for (let i = 0; i < stream.length; ) {
    const n = Math.min(chunkSizes(), stream.length - i);
    out.push(filter.filter(stream.subarray(i, i + n)));
    i += n;
  }
  return { passed: Buffer.concat(out), discarded, refused };
}

describe('oversize PUBLISH filter', () => {
  const splits: Array<[string, () => number]> = [
    ['whole', () => stream.length],
    ['1-byte reads', () => 1],
    ['7-byte reads', () => 7],
    ['64 KB reads', () => 65536],
  ];
  let seed = 7;
  splits.push([
    'random reads',
    () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return 1 + (seed % 3000);
    },
  ]);
  for (const [name, sizes] of splits) {
    it(`${name}: passes the small packets byte for byte, skips the oversize ones with their packet ids`, () => {
      const { passed, discarded, refused } = run(sizes);
      assert.deepEqual(passed, Buffer.concat([small1, small2, small1]));
      assert.deepEqual(discarded, [
        [huge1.length - 3, 0x1234],
        [huge0.length - 4, null],
      ]);
      assert.deepEqual(refused, []);
    });
  }

  it('an oversize packet that is not a QoS 0/1 PUBLISH is refused (QoS 2, SUBACK), and nothing after it passes', () => {
    for (const bad of [packet({ cmd: 'publish', topic: 't', payload: Buffer.alloc(2000), qos: 2, messageId: 1 }), packet({ cmd: 'suback', messageId: 1, granted: new Array(2000).fill(1) })]) {
      const refused: number[] = [];
      const filter = new OversizePublishFilter(LIMIT, { discarded: () => assert.fail('not a skippable packet'), refused: (n) => refused.push(n) });
      const passed = filter.filter(Buffer.concat([small2, bad, small2]));
      assert.deepEqual(passed, small2);
      assert.equal(refused.length, 1);
    }
  });

  it('a fifth remaining-length byte is refused', () => {
    const refused: number[] = [];
    const filter = new OversizePublishFilter(LIMIT, { discarded: () => assert.fail('malformed'), refused: (n) => refused.push(n) });
    assert.equal(filter.filter(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01])).length, 0);
    assert.equal(refused.length, 1);
  });

  it('a packet written in pieces under cork() reaches the socket as one write (as without the filter: one TCP segment, not seven)', async () => {
    const writes: Buffer[] = [];
    const socket = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, done) {
        writes.push(chunk);
        done();
      },
    });
    const stream = new OversizeFilteredStream(LIMIT, () => assert.fail('nothing oversize'));
    stream.attach(socket, false);
    await new Promise<void>((resolve) => {
      mqttPacket.writeToStream({ cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(3200, 7), qos: 1, messageId: 3 } as mqttPacket.Packet, stream);
      setImmediate(resolve);
    });
    assert.equal(writes.length, 1);
    assert.deepEqual(writes[0], packet({ cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(3200, 7), qos: 1, messageId: 3 }));
  });
});
