// Key files as an attacker or a mistake would leave them: a FIFO (would block
// the whole process on open), a folder, a symbolic link to another 0600 file,
// a file owned by another user, an oversized file. Each is refused at once by
// name, and the worker's per-device check answers the frame instead of
// throwing (every refusal is answered).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DeviceKeys } from '../../cloud/worker/device-keys.ts';
import { KeyFileError, MAX_KEY_FILE_BYTES, readKeyFile } from '../../runtime/key-file.ts';

const work = mkdtempSync(join(tmpdir(), 'splitoculo-keyfiles-'));
after(() => rmSync(work, { recursive: true, force: true }));
const secret = 'a1'.repeat(32);

function keyFile(name: string, content = secret, mode = 0o600): string {
  const path = join(work, name);
  writeFileSync(path, content, { mode });
  return path;
}

const hostile: Array<[string, () => string, RegExp]> = [
  [
    'a FIFO',
    () => {
      const p = join(work, 'fifo.key');
      execFileSync('mkfifo', ['-m', '600', p]);
      return p;
    },
    /is a FIFO; expected a regular file/,
  ],
  [
    'a folder',
    () => {
      const p = join(work, 'dir.key');
      mkdirSync(p, { mode: 0o700 });
      return p;
    },
    /is a folder; expected a regular file/,
  ],
  [
    'a symbolic link to a 0600 file',
    () => {
      const p = join(work, 'link.key');
      symlinkSync(keyFile('target.key'), p);
      return p;
    },
    /symbolic link; expected a regular file/,
  ],
  [
    'a file of another user',
    () => {
      const p = keyFile('other.key');
      chownSync(p, 65534, 65534);
      return p;
    },
    /belongs to user 65534; expected this service's user \(\d+\) or root/,
  ],
  ['an oversized file', () => keyFile('big.key', 'a'.repeat(MAX_KEY_FILE_BYTES + 2)), /has \d+ bytes; expected at most 4096/],
];

describe('key files refused by kind, owner and size', () => {
  for (const [what, make, message] of hostile) {
    it(`refuses ${what} by name, at once`, () => {
      const path = make();
      const started = process.hrtime.bigint();
      assert.throws(
        () => readKeyFile(path),
        (error: Error) => {
          assert.ok(error instanceof KeyFileError, `${what}: ${error.name}`);
          assert.ok(error.message.startsWith(`${path}: `), error.message);
          assert.match(error.message, message);
          assert.ok(!error.message.includes(secret));
          return true;
        },
      );
      // Not a timing assertion on speed: a blocking open would not return at all without a writer.
      assert.ok(process.hrtime.bigint() > started);
    });
  }

  it("answers a device's frame when its key file is unusable, and reports the file", () => {
    const dir = join(work, 'keys');
    mkdirSync(dir, { mode: 0o700 });
    execFileSync('mkfifo', ['-m', '600', join(dir, 'cam-fifo.key')]);
    mkdirSync(join(dir, 'cam-dir.key'));
    symlinkSync(keyFile('real.key'), join(dir, 'cam-link.key'));
    const reported: string[] = [];
    const keys = new DeviceKeys(dir, false, (error) => reported.push(error.message));
    for (const device of ['cam-fifo', 'cam-dir', 'cam-link']) {
      const verdict = keys.check(device, new Uint8Array(64));
      assert.deepEqual(verdict, { ok: false, message: `the worker's key for ${device} is unusable; see its log` });
    }
    assert.equal(reported.length, 3);
    assert.deepEqual(keys.check('cam-without-key', new Uint8Array(64)), { ok: true, signed: false });
  });
});
