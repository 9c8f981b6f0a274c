// The embedded broker's packet framing on its own: MQTT fixed headers split
// across reads, several packets in one read, a body exactly at the limit and
// one byte over, the 5-byte length that MQTT forbids.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PacketFraming } from '../../cloud/worker/packet-size-guard.ts';

function packet(bodyBytes: number): Buffer {
  const length: number[] = [];
  let n = bodyBytes;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    length.push(byte);
  } while (n > 0);
  return Buffer.concat([Buffer.from([0x30, ...length]), Buffer.alloc(bodyBytes, 7)]);
}

describe('packet framing', () => {
  it('follows packets across any split of the stream and finds none over the limit', () => {
    const stream = Buffer.concat([packet(0), packet(5), packet(200), packet(20_000), packet(127), packet(128)]);
    for (const size of [1, 2, 3, 7, 64, 1000, stream.length]) {
      const framing = new PacketFraming(20_003 + 1); // 20,000-byte body: 1 type byte, 3 length bytes
      for (let at = 0; at < stream.length; at += size) assert.equal(framing.feed(stream.subarray(at, at + size)), null, `read size ${size}`);
    }
  });

  it('reports a packet one byte over the limit at its header, whatever follows', () => {
    const framing = new PacketFraming(100);
    assert.equal(framing.feed(packet(98)), null, 'exactly 100 bytes with its header');
    const over = packet(99).subarray(0, 2); // the header alone, no body yet
    assert.equal(framing.feed(over), 99);
  });

  it('reports a 250 MB announcement from its first bytes, and a fifth length byte', () => {
    const big = Buffer.from([0x30, 0x80, 0x80, 0x80, 0x7d]); // 250 MiB in four length bytes
    assert.equal(new PacketFraming(4 * 1024 * 1024).feed(big), 0x7d * 128 ** 3);
    assert.notEqual(new PacketFraming(Number.MAX_SAFE_INTEGER).feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])), null);
  });
});
