import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeFrame, encodeFrame, frameSize, FIXED_HEADER_BYTES, FLAG_REQUEST, PROMPT_MAX_BYTES, decodeNeuralFrame, type JpegFrame, type NeuralFrame } from '../../protocol/wire/frame.ts';
import { FrameError } from '../../protocol/wire/errors.ts';
import { FrameIdGenerator } from '../../protocol/wire/frame-id.ts';
import { quantise } from '../../protocol/wire/quantise.ts';
import { reseal, sampleFrame, sampleFrameBytes } from '../helpers/frames.ts';

function expectFrameError(bytes: Uint8Array, code: string, field?: string): FrameError {
  try {
    decodeFrame(bytes);
  } catch (error) {
    assert.ok(error instanceof FrameError, `expected FrameError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (field !== undefined) assert.equal(error.field, field, error.message);
    return error;
  }
  assert.fail(`decoding succeeded, expected ${code}`);
}

function assertSameFrame(actual: NeuralFrame, expected: NeuralFrame): void {
  const { tokens: a, ...headerA } = actual;
  const { tokens: e, ...headerE } = expected;
  assert.deepEqual(headerA, headerE);
  assert.equal(a.scheme, e.scheme);
  assert.equal(a.count, e.count);
  assert.equal(a.width, e.width);
  assert.deepEqual(a.params.scales, e.params.scales);
  assert.deepEqual(a.params.zeroPoints, e.params.zeroPoints);
  assert.deepEqual(a.data, e.data);
}

describe('wire format v1', () => {
  it('meets the size bar: 49x64 per-tensor, 16-character device id, no prompt', () => {
    const bytes = sampleFrameBytes();
    assert.equal(bytes.length, frameSize(16, 0, 49, 64, 'per-tensor'));
    assert.ok(bytes.length <= 3136 + 128, `${bytes.length} bytes`);
    assert.equal(bytes.length, 3231);
    // The seed sent the same tokens as base64 in JSON: 4,184 bytes for the tokens alone.
    assert.ok(bytes.length < Math.ceil(3136 / 3) * 4);
  });

  it('round trips a frame with a prompt and per-token quantisation', () => {
    const frame = sampleFrame({ prompt: 'Wie viele Münzen? 🪙', scheme: 'per-token' });
    assertSameFrame(decodeNeuralFrame(encodeFrame(frame)), frame);
  });

  it('round trips random frames (property)', () => {
    const ids = new FrameIdGenerator();
    fc.assert(
      fc.property(
        fc.record({
          count: fc.integer({ min: 1, max: 64 }),
          width: fc.integer({ min: 1, max: 80 }),
          scheme: fc.constantFrom('per-tensor' as const, 'per-token' as const),
          deviceId: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/),
          prompt: fc.option(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 200 }), { nil: null }),
          sequence: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
          captureTimeMs: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
          clockUnreliable: fc.boolean(),
          requestId: fc.option(fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/), { nil: null }),
          seed: fc.integer({ min: -1e6, max: 1e6 }),
        }),
        (r) => {
          const values = new Float32Array(r.count * r.width).map((_, i) => Math.fround(Math.sin(i * 12.9898 + r.seed) * 3));
          const frame: NeuralFrame = {
            codec: 'neural-u8',
            modelId: 'fedcba98765432100123456789abcdef',
            deviceId: r.deviceId,
            frameId: ids.next(),
            sequence: r.sequence,
            captureTimeMs: r.captureTimeMs,
            clockUnreliable: r.clockUnreliable,
            prompt: r.prompt,
            requestId: r.requestId,
            tokens: quantise(values, r.count, r.width, r.scheme),
          };
          const bytes = encodeFrame(frame);
          assert.equal(bytes.length, frameSize(r.deviceId.length, Buffer.byteLength(r.prompt ?? ''), r.count, r.width, r.scheme, false, r.requestId?.length ?? 0));
          assertSameFrame(decodeNeuralFrame(bytes), frame);
        },
      ),
      { seed: 20261126, numRuns: 300 },
    );
  });

  it('rejects every single-byte corruption', () => {
    for (const scheme of ['per-tensor', 'per-token'] as const) {
      const bytes = sampleFrameBytes({ prompt: 'what is on the table?', scheme });
      for (let at = 0; at < bytes.length; at++) {
        for (const flip of [0x01, 0x80, 0xff]) {
          const corrupt = Uint8Array.from(bytes);
          corrupt[at]! ^= flip;
          assert.throws(() => decodeFrame(corrupt), FrameError, `corruption at byte ${at} (xor 0x${flip.toString(16)}) was accepted`);
        }
      }
    }
  });

  it('rejects every truncation, and trailing bytes', () => {
    const bytes = sampleFrameBytes({ prompt: 'hello' });
    for (let length = 0; length < bytes.length; length++) {
      assert.throws(() => decodeFrame(bytes.subarray(0, length)), FrameError, `truncation to ${length} bytes was accepted`);
    }
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    const trailing = expectFrameError(longer, 'trailing-bytes', 'frame');
    // A whole-frame error names the frame once (issue 14: "frame frame:").
    assert.equal(trailing.message, 'frame: 1 bytes after the CRC');
    assert.equal(expectFrameError(new Uint8Array(4 * 1024 * 1024 + 1), 'too-large', 'frame').message, `frame: ${4 * 1024 * 1024 + 1} bytes, at most ${4 * 1024 * 1024} allowed`);
    assert.equal(expectFrameError(bytes.subarray(0, 3), 'truncated', 'magic').message, 'frame magic: needs 4 bytes at offset 0, only 3 remain');
  });

  it('throws only FrameError for arbitrary bytes (property)', () => {
    const valid = sampleFrameBytes({ prompt: 'x' });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 4000 }),
          // Mutations of a valid frame reach deeper than random bytes.
          fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 1, max: 255 }), fc.boolean()).map(([at, xor, resealed]) => {
            const out = Uint8Array.from(valid);
            out[at]! ^= xor;
            return resealed ? reseal(out) : out;
          }),
        ),
        (bytes) => {
          try {
            decodeFrame(bytes);
          } catch (error) {
            assert.ok(error instanceof FrameError, `non-FrameError thrown: ${String(error)}`);
          }
        },
      ),
      { seed: 7, numRuns: 3000 },
    );
  });

  it('names the field of each malformation', () => {
    const bytes = sampleFrameBytes();
    const mutate = (at: number, value: number) => {
      const out = Uint8Array.from(bytes);
      out[at] = value;
      return reseal(out);
    };
    expectFrameError(mutate(0, 0x00), 'bad-magic', 'magic');
    expectFrameError(mutate(4, 2), 'unsupported-version', 'version');
    expectFrameError(mutate(5, 99), 'unknown-codec', 'codec');
    expectFrameError(mutate(5, 3), 'unsupported-codec', 'codec');
    expectFrameError(mutate(5, 2), 'unknown-quantisation', 'quantisation'); // jpeg carries no quantisation
    expectFrameError(mutate(6, 9), 'unknown-quantisation', 'quantisation');
    expectFrameError(mutate(7, 0x80), 'bad-flags', 'flags');
    expectFrameError(mutate(60, 0), 'bad-device-id', 'deviceId.length');
    expectFrameError(mutate(61, '/'.charCodeAt(0)), 'bad-device-id', 'deviceId');
    expectFrameError(mutate(61, '+'.charCodeAt(0)), 'bad-device-id', 'deviceId');
    expectFrameError(mutate(57, 50), 'bad-payload', 'payload'); // 50x64 no longer matches the payload
    expectFrameError(mutate(56, 0xff), 'bad-shape', 'tokens');
    expectFrameError(mutate(59, 0), 'bad-shape', 'tokens');
    expectFrameError(mutate(24 + 6, 0x40), 'bad-payload', 'frameId'); // UUID version nibble 4, not 7
    const crcBroken = Uint8Array.from(bytes);
    crcBroken[100]! ^= 1;
    expectFrameError(crcBroken, 'crc-mismatch', 'crc');
  });

  it('rejects NaN, infinite, zero and negative scales', () => {
    const bytes = sampleFrameBytes();
    const scaleAt = FIXED_HEADER_BYTES + 16 + 2;
    for (const value of [Number.NaN, Infinity, 0, -1]) {
      const out = Uint8Array.from(bytes);
      new DataView(out.buffer).setFloat32(scaleAt, value);
      expectFrameError(reseal(out), 'bad-quantisation', 'quantisation.scale');
    }
    const out = Uint8Array.from(bytes);
    new DataView(out.buffer).setFloat32(scaleAt + 4, Number.NaN);
    expectFrameError(reseal(out), 'bad-quantisation', 'quantisation.zeroPoint');
  });

  it('limits the prompt and checks its UTF-8', () => {
    assert.throws(() => encodeFrame(sampleFrame({ prompt: 'x'.repeat(PROMPT_MAX_BYTES + 1) })), /prompt/);
    const atLimit = sampleFrame({ prompt: 'é'.repeat(PROMPT_MAX_BYTES / 2) });
    assert.equal(decodeFrame(encodeFrame(atLimit)).prompt, atLimit.prompt);
    const bytes = sampleFrameBytes({ prompt: 'ab' });
    const promptLengthAt = FIXED_HEADER_BYTES + 16;
    const tooLong = Uint8Array.from(bytes);
    new DataView(tooLong.buffer).setUint16(promptLengthAt, PROMPT_MAX_BYTES + 1);
    expectFrameError(reseal(tooLong), 'bad-prompt', 'prompt.length');
    const badUtf8 = Uint8Array.from(bytes);
    badUtf8[promptLengthAt + 2] = 0xc3; // a lead byte followed by ASCII
    expectFrameError(reseal(badUtf8), 'bad-prompt', 'prompt');
  });

  describe('request id (flag bit 2)', () => {
    it('leaves frames without one byte for byte as before: flag clear, no field', () => {
      const frame = sampleFrame({ prompt: 'hello' });
      const without = encodeFrame(frame);
      const { requestId: _none, ...legacy } = frame;
      assert.deepEqual(encodeFrame(legacy), without, 'absent and null encode the same bytes');
      assert.equal(without[7]! & FLAG_REQUEST, 0);
      assert.equal(without.length, frameSize(16, 5, 49, 64, 'per-tensor'));
      assert.equal(sampleFrameBytes().length, 3231);
      assert.equal(decodeFrame(without).requestId, null);
    });

    it('round trips: the flag, a length byte and the ASCII id after the prompt', () => {
      const frame = sampleFrame({ prompt: 'Is the door open?', requestId: 'ask:2026-03-01.a_b-7' });
      const bytes = encodeFrame(frame);
      assert.equal(bytes[7]! & FLAG_REQUEST, FLAG_REQUEST);
      assert.equal(bytes.length, frameSize(16, 17, 49, 64, 'per-tensor', false, 20));
      const at = FIXED_HEADER_BYTES + 16 + 2 + 17;
      assert.equal(bytes[at], 20);
      assert.equal(Buffer.from(bytes.subarray(at + 1, at + 21)).toString('latin1'), 'ask:2026-03-01.a_b-7');
      assertSameFrame(decodeNeuralFrame(bytes), frame);
      const noPrompt = sampleFrame({ requestId: 'x' });
      assert.equal(decodeFrame(encodeFrame(noPrompt)).requestId, 'x');
    });

    it('refuses bad ids at encode time', () => {
      for (const requestId of ['', 'a'.repeat(65), 'has space', 'é', 'a/b']) {
        assert.throws(
          () => encodeFrame(sampleFrame({ requestId })),
          (e: unknown) => e instanceof FrameError && e.code === 'bad-request-id',
          requestId,
        );
      }
      assert.doesNotThrow(() => encodeFrame(sampleFrame({ requestId: 'a'.repeat(64) })));
    });

    it('checks the length before reading and the characters after, naming the field', () => {
      const bytes = encodeFrame(sampleFrame({ prompt: 'ab', requestId: 'req-1' }));
      const lengthAt = FIXED_HEADER_BYTES + 16 + 2 + 2;
      const zero = Uint8Array.from(bytes);
      zero[lengthAt] = 0;
      expectFrameError(reseal(zero), 'bad-request-id', 'requestId.length');
      const tooLong = Uint8Array.from(bytes);
      tooLong[lengthAt] = 65;
      expectFrameError(reseal(tooLong), 'bad-request-id', 'requestId.length');
      const badChar = Uint8Array.from(bytes);
      badChar[lengthAt + 1] = 0xe9;
      expectFrameError(reseal(badChar), 'bad-request-id', 'requestId');
      const slash = Uint8Array.from(bytes);
      slash[lengthAt + 3] = '/'.charCodeAt(0);
      expectFrameError(reseal(slash), 'bad-request-id', 'requestId');
      // The flag set on a frame that has no field: the next bytes are misread and the frame is refused.
      const flagOnly = sampleFrameBytes({ prompt: 'ab' });
      flagOnly[7]! |= FLAG_REQUEST;
      assert.throws(() => decodeFrame(reseal(flagOnly)), FrameError);
      for (let length = 0; length < bytes.length; length++) {
        assert.throws(() => decodeFrame(bytes.subarray(0, length)), FrameError, `truncation to ${length} bytes was accepted`);
      }
      for (let at = 0; at < bytes.length; at++) {
        const corrupt = Uint8Array.from(bytes);
        corrupt[at]! ^= 0x01;
        assert.throws(() => decodeFrame(corrupt), FrameError, `corruption at byte ${at} was accepted`);
      }
    });

    it('throws only FrameError for mutations of a frame with a request id (property)', () => {
      const valid = encodeFrame(sampleFrame({ prompt: 'x', requestId: 'r-1' }));
      fc.assert(
        fc.property(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, xor) => {
          const out = Uint8Array.from(valid);
          out[at]! ^= xor;
          try {
            decodeFrame(reseal(out));
          } catch (error) {
            assert.ok(error instanceof FrameError, `non-FrameError thrown: ${String(error)}`);
          }
        }),
        { seed: 16, numRuns: 2000 },
      );
    });
  });

  it('refuses a payload length beyond the bytes received without allocating it', () => {
    const bytes = sampleFrameBytes();
    const payloadLengthAt = FIXED_HEADER_BYTES + 16 + 2 + 8;
    const out = Uint8Array.from(bytes);
    new DataView(out.buffer).setUint32(payloadLengthAt, 0xffffffff);
    expectFrameError(reseal(out), 'truncated', 'payload');
  });

  it('refuses invalid frames at encode time', () => {
    assert.throws(() => encodeFrame(sampleFrame({ deviceId: 'a/b' })), /deviceId/);
    assert.throws(() => encodeFrame({ ...sampleFrame(), modelId: 'xyz' }), /modelId/);
    assert.throws(() => encodeFrame({ ...sampleFrame(), sequence: -1 }), /sequence/);
  });

  describe('JPEG frames (codec 2)', () => {
    const jpeg = Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, ...Array.from({ length: 300 }, (_, i) => i % 251), 0xff, 0xd9]);
    const { tokens: _tokens, ...header } = sampleFrame({ prompt: 'What is this?' });
    const frame: JpegFrame = { ...header, codec: 'jpeg', image: { width: 224, height: 200, jpeg } };

    it('round trips: the image size in N and D, no quantisation, the JPEG bytes as the payload', () => {
      const bytes = encodeFrame(frame);
      assert.equal(bytes[5], 2);
      assert.equal(bytes[6], 0);
      assert.equal(bytes.length, FIXED_HEADER_BYTES + 16 + 2 + 13 + 4 + jpeg.length + 4);
      const back = decodeFrame(bytes);
      assert.equal(back.codec, 'jpeg');
      assert.deepEqual(back, frame);
      assert.throws(
        () => decodeNeuralFrame(bytes),
        (e: unknown) => e instanceof FrameError && e.code === 'unsupported-codec',
      );
    });

    it('refuses a quantisation id, a payload that is not a JPEG and an empty image size', () => {
      const bytes = encodeFrame(frame);
      const withQuantisation = Uint8Array.from(bytes);
      withQuantisation[6] = 1;
      expectFrameError(reseal(withQuantisation), 'unknown-quantisation', 'quantisation');
      const notJpeg = Uint8Array.from(bytes);
      notJpeg[FIXED_HEADER_BYTES + 16 + 2 + 13 + 4] = 0x89; // a PNG signature byte where SOI belongs
      expectFrameError(reseal(notJpeg), 'bad-payload', 'payload');
      const noWidth = Uint8Array.from(bytes);
      noWidth[58] = 0;
      noWidth[59] = 0;
      expectFrameError(reseal(noWidth), 'bad-shape', 'tokens');
      assert.throws(() => encodeFrame({ ...frame, image: { ...frame.image, jpeg: Uint8Array.of(1, 2, 3, 4) } }), /SOI/);
    });
  });
});
