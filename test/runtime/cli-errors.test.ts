// How the shared command line reports a failure: a user's mistake (any
// UserError, or a file/network error naming its path or address) as one line
// and exit 1; a bug as one line and exit 70, its stack only with --debug.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../runtime/layered-config.ts';
import { reportFailure } from '../../runtime/cli.ts';
import { describeSystemError } from '../../runtime/system-errors.ts';
import { UserError } from '../../protocol/errors.ts';
import { FrameError } from '../../protocol/wire/errors.ts';

function captured(run: () => number): { code: number; text: string } {
  const write = process.stderr.write.bind(process.stderr);
  let text = '';
  process.stderr.write = ((chunk: string) => {
    text += chunk;
    return true;
  }) as typeof process.stderr.write;
  try {
    return { code: run(), text };
  } finally {
    process.stderr.write = write;
  }
}

describe('reportFailure', () => {
  it('prints a UserError of any kind as its one line, exit 1', () => {
    for (const error of [new ConfigError('edge.yaml: mqtt.url: required'), new FrameError('truncated', 'payload', 'needs 4 bytes'), new UserError('x: y')]) {
      const { code, text } = captured(() => reportFailure('splitoculo-edge', error));
      assert.equal(code, 1);
      assert.equal(text, `splitoculo-edge: error: ${error.message}\n`);
    }
  });

  it('keeps a multi-line message on one line', () => {
    const { text } = captured(() => reportFailure('splitoculo-cloud', new UserError('a.yaml: first\n  second')));
    assert.equal(text, 'splitoculo-cloud: error: a.yaml: first; second\n');
  });

  it('names the path of a file error and the address of a network error, exit 1', () => {
    const missing = Object.assign(new Error("ENOENT: no such file or directory, open 'x.frame'"), { code: 'ENOENT', path: 'x.frame' });
    assert.deepEqual(
      captured(() => reportFailure('splitoculo-cloud', missing)),
      { code: 1, text: 'splitoculo-cloud: error: x.frame: no such file or folder (ENOENT)\n' },
    );
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED', address: '127.0.0.1', port: 9 });
    assert.equal(describeSystemError(refused), '127.0.0.1:9: connection refused (nothing listening there?) (ECONNREFUSED)');
  });

  it('reports anything else as an internal error, exit 70, one line without the stack unless --debug', () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'x')");
    const plain = captured(() => reportFailure('splitoculo-edge', bug));
    assert.equal(plain.code, 70);
    assert.equal(plain.text.split('\n').filter(Boolean).length, 1);
    assert.match(
      plain.text,
      /^splitoculo-edge: internal error \(a bug, please report it\): TypeError: Cannot read properties of undefined \(reading 'x'\); run again with --debug for the stack trace\n$/,
    );
    const debug = captured(() => reportFailure('splitoculo-edge', bug, true));
    assert.equal(debug.code, 70);
    assert.match(debug.text, /^splitoculo-edge: internal error: TypeError: Cannot read[^\n]*\n\s+at /);
    const errno = Object.assign(new Error('EBADF: bad file descriptor'), { code: 'EBADF' });
    assert.equal(captured(() => reportFailure('splitoculo-edge', errno)).code, 70, 'a system error that is no user mistake stays a bug');
  });
});
