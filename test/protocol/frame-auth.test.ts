// Frame signing: the tag covers every byte before it, any change (flag, header,
// tokens, tag) or another key fails verification, signed frames still decode,
// and key files are refused when group- or world-readable or malformed,
// without their content in the message.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isSigned, signFrame, verifyFrame } from '../../protocol/wire/frame-auth.ts';
import { AUTH_TAG_BYTES, decodeFrame, decodeNeuralFrame, frameSize } from '../../protocol/wire/frame.ts';
import { KeyFileError, readKeyFile } from '../../runtime/key-file.ts';
import { reseal, sampleFrameBytes } from '../helpers/frames.ts';

const key = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');
const other = Buffer.from(key).fill(7, 0, 1);
const work = mkdtempSync(join(tmpdir(), 'splitoculo-keys-'));
after(() => rmSync(work, { recursive: true, force: true }));

describe('frame signing', () => {
  const plain = sampleFrameBytes({ prompt: 'what?' });
  const signed = signFrame(plain, key);

  it('adds a 32-byte tag and the flag, and the frame still decodes to the same content', () => {
    assert.equal(signed.length, plain.length + AUTH_TAG_BYTES);
    assert.equal(signed.length, frameSize(16, 5, 49, 64, 'per-tensor', true));
    assert.ok(isSigned(signed) && !isSigned(plain));
    const a = decodeNeuralFrame(signed);
    const b = decodeNeuralFrame(plain);
    assert.deepEqual({ ...a, tokens: a.tokens.data }, { ...b, tokens: b.tokens.data });
  });

  it('signs a frame with a request id: the tag covers the id, which decodes back', () => {
    const asked = sampleFrameBytes({ prompt: 'what?', requestId: 'ask-1' });
    const signedAsk = signFrame(asked, key);
    assert.equal(signedAsk.length, frameSize(16, 5, 49, 64, 'per-tensor', true, 5));
    assert.equal(decodeFrame(signedAsk).requestId, 'ask-1');
    assert.equal(verifyFrame(signedAsk, key), true);
    const changed = Uint8Array.from(signedAsk);
    changed[changed.indexOf('k'.charCodeAt(0), 61 + 16 + 2 + 5)]! = 'K'.charCodeAt(0);
    assert.equal(verifyFrame(reseal(changed), key), false, 'a changed request id fails verification');
  });

  it('verifies with its key only', () => {
    assert.equal(verifyFrame(signed, key), true);
    assert.equal(verifyFrame(signed, other), false);
    assert.equal(verifyFrame(plain, key), false, 'an unsigned frame never verifies');
  });

  it('fails on any changed byte, even with the CRC recomputed', () => {
    for (let at = 0; at < signed.length - 4; at++) {
      const tampered = Uint8Array.from(signed);
      tampered[at]! ^= 0x01;
      assert.equal(verifyFrame(reseal(tampered), key), false, `byte ${at}`);
    }
  });

  it('fails when the tag is stripped and the flag cleared', () => {
    const stripped = Uint8Array.from([...signed.subarray(0, signed.length - 4 - AUTH_TAG_BYTES), 0, 0, 0, 0]);
    stripped[7]! &= ~0x02;
    const resealed = reseal(stripped);
    assert.doesNotThrow(() => decodeFrame(resealed));
    assert.equal(verifyFrame(resealed, key), false);
  });

  it('refuses to sign twice', () => {
    assert.throws(() => signFrame(signed, key), /already signed/);
  });
});

describe('key files', () => {
  const write = (name: string, content: string, mode: number) => {
    const path = join(work, name);
    writeFileSync(path, content, { mode });
    return path;
  };

  it('reads hex and base64 keys from owner-only files', () => {
    assert.deepEqual(readKeyFile(write('hex.key', `${key.toString('hex')}\n`, 0o600)), key);
    assert.deepEqual(readKeyFile(write('b64.key', key.toString('base64'), 0o400)), key);
  });

  it('refuses readable, short and malformed files, never quoting them', () => {
    const secret = key.toString('hex');
    const cases: Array<[string, RegExp]> = [
      [write('open.key', secret, 0o644), /readable by group or others \(mode 0644\); chmod 600 it/],
      [write('short.key', 'abcd', 0o600), /at least 16 bytes/],
      [write('junk.key', 'not a key!', 0o600), /hex or base64/],
      [join(work, 'missing.key'), /cannot read the key file \(ENOENT\)/],
    ];
    for (const [path, message] of cases) {
      assert.throws(
        () => readKeyFile(path),
        (error: Error) => {
          assert.ok(error instanceof KeyFileError);
          assert.match(error.message, message);
          assert.ok(!error.message.includes(secret) && !error.message.includes('not a key'));
          return true;
        },
      );
    }
  });
});
