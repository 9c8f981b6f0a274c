// Issue 15, finding 5: `splitoculo-edge answers` printed answer text raw, and
// a forged "\n" plus ESC sequences drew a fake line and set the terminal's
// title (the tiny model's own answers already hold "\r\n"). Every printer of
// outside text goes through runtime/printable.ts; here the real commands print
// hostile answers, frame headers, file names and outbox paths, and nothing
// that reaches the terminal is a control character.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openOutbox } from '../../daemon/edge-daemon.ts';
import { configFromFlags } from '../../daemon/cli/config-options.ts';
import { encodeAnswer } from '../../protocol/answer.ts';
import { FrameIdGenerator } from '../../protocol/wire/frame-id.ts';
import { printable, printableJson } from '../../runtime/printable.ts';
import { cli, CLOUD_BIN, EDGE_BIN } from '../helpers/cli.ts';
import { sampleFrameBytes } from '../helpers/frames.ts';

const root = mkdtempSync(join(tmpdir(), 'splitoculo-tty-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** What a forger sends: a fake line, a window title, a screen clear, an 8-bit CSI, a bidi override, DEL. */
const HOSTILE = [
  'A cat.\r\n2026-01-01T00:00:00.000Z  #1  00000000-0000-7000-8000-000000000000  everything is fine',
  'title \u001b]0;pwned\u0007 set',
  '\u001b[2Jscreen cleared',
  'eight-bit \u009b31m red',
  'reversed \u202etxt.exe',
  'rub\u007fout',
];

/** Any character a terminal acts on, beyond the newline that ends each printed line (code points, not a regex of raw controls). */
function controlIn(text: string): string | undefined {
  for (const c of text) {
    const code = c.codePointAt(0)!;
    if ((code < 0x20 && code !== 0x0a) || (code >= 0x7f && code <= 0x9f) || (code >= 0x2028 && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069)) return `U+${code.toString(16)}`;
  }
  return undefined;
}

function assertInert(output: string, lines: number): void {
  assert.equal(controlIn(output), undefined, `control characters reached the terminal: ${JSON.stringify(output)}`);
  assert.equal(output.split('\n').filter((l) => l !== '').length, lines, output);
}

describe('terminal injection', () => {
  it('printable: every control character shown, nothing else changed', () => {
    assert.equal(printable('a\r\nb\tc\u001b[2J\u0007\u009b\u202e\u2028d€'), 'a\\r⏎b\\tc\\x1b[2J\\x07\\x9b\\u{202e}\\u{2028}d€');
    for (let code = 0; code < 0x3000; code++) assert.equal(controlIn(printable(String.fromCodePoint(code))), undefined, `U+${code.toString(16)}`);
    const json = JSON.stringify({ text: HOSTILE.join('') });
    assert.deepEqual(JSON.parse(printableJson(json)), JSON.parse(json), 'still the same JSON value');
    assert.equal(controlIn(printableJson(json)), undefined);
  });

  it('splitoculo-edge answers and answers --json: one inert line per answer, the text still readable', async () => {
    const dir = join(root, 'answers');
    mkdirSync(dir);
    const file = join(dir, 'edge.json');
    writeFileSync(
      file,
      JSON.stringify({ device: { id: 'tty-cam' }, model: { path: 'm' }, camera: { type: 'directory', path: 'd' }, outbox: { path: join(dir, 'outbox.db') }, mqtt: { url: 'mqtt://127.0.0.1:1' } }),
    );
    const outbox = openOutbox(configFromFlags({ config: file, set: [] }));
    const ids = new FrameIdGenerator();
    for (const [i, text] of HOSTILE.entries()) {
      const frameId = ids.next();
      const answer = {
        v: 1 as const,
        frameId,
        device: 'tty-cam',
        modelId: '0123456789abcdef0123456789abcdef',
        sequence: i + 1,
        prompt: null,
        text,
        tokens: 1,
        timings: { totalMs: 1 },
        answeredAt: new Date().toISOString(),
      };
      outbox.storeAnswer(frameId, encodeAnswer(answer).toString(), 1_000 + i);
    }
    outbox.close();

    const plain = await cli(EDGE_BIN, ['answers', '-c', file]);
    assert.equal(plain.code, 0, plain.stderr);
    assertInert(plain.stdout, HOSTILE.length);
    assert.ok(plain.stdout.includes('A cat.\\r⏎2026-01-01T00:00:00.000Z'), 'the forged line stays on the answer line, shown');
    assert.ok(plain.stdout.includes('title \\x1b]0;pwned\\x07 set'));

    const json = await cli(EDGE_BIN, ['answers', '-c', file, '--json']);
    assert.equal(json.code, 0, json.stderr);
    assertInert(json.stdout, HOSTILE.length);
    assert.deepEqual(
      json.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).text),
      HOSTILE,
    );
  });

  it('splitoculo-cloud decode: the header prompt printed inert, as text and as JSON', async () => {
    const frame = join(root, 'hostile.frame');
    const prompt = HOSTILE.join(' | ');
    writeFileSync(frame, sampleFrameBytes({ prompt }));
    for (const args of [
      ['decode', frame],
      ['decode', frame, '--json'],
    ]) {
      const result = await cli(CLOUD_BIN, args);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(controlIn(result.stdout), undefined, result.stdout);
      assert.equal(JSON.parse(result.stdout).prompt, prompt, 'the same value once parsed');
    }
  });

  it('error lines and queue status quote names escaped: one line each', async () => {
    const name = join(root, 'x\u001b]0;pwned\u0007\n\u001b[2J.frame');
    writeFileSync(name, 'not a frame');
    const decoded = await cli(CLOUD_BIN, ['decode', name]);
    assert.equal(decoded.code, 1);
    assertInert(decoded.stderr, 1);
    assert.match(decoded.stderr, /x\\x1b\]0;pwned\\x07/);

    const dir = join(root, 'q\u001b[2J\u009b');
    mkdirSync(dir);
    const file = join(dir, 'edge.json');
    writeFileSync(
      file,
      JSON.stringify({ device: { id: 'tty-cam' }, model: { path: 'm' }, camera: { type: 'directory', path: 'd' }, outbox: { path: join(dir, 'outbox.db') }, mqtt: { url: 'mqtt://127.0.0.1:1' } }),
    );
    const status = await cli(EDGE_BIN, ['queue', 'status', '-c', file]);
    assert.equal(status.code, 0, status.stderr);
    assertInert(status.stdout, 2);
    const statusJson = await cli(EDGE_BIN, ['queue', 'status', '-c', file, '--json']);
    assert.equal(controlIn(statusJson.stdout), undefined);
    assert.equal(JSON.parse(statusJson.stdout).path, join(dir, 'outbox.db'));
  });
});
