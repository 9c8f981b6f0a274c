// Earlier review fixes in daemon/control/answer-sink.ts that had no test of
// their own (commit a23cf48): a hook (answers.command) that hangs is killed
// after the timeout and its slot freed for the next answer; a rotation that
// finds answers.jsonl removed from outside starts a new file instead of
// throwing. Real child processes and files.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CommandRunner, RotatingLines } from '../../daemon/control/answer-sink.ts';
import { waitFor } from '../helpers/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'splitoculo-answer-sink-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('answers.command timeout', () => {
  it('a hook that sleeps past the timeout is killed, counted failed, and the waiting answer runs', async () => {
    const pids = join(dir, 'pids');
    const seen = join(dir, 'seen');
    // The first answer hangs (writes its pid, then sleeps); the second finishes at once.
    const script = `read line; case "$line" in *hang*) echo $$ >> ${pids}; exec sleep 300;; *) echo "$line" >> ${seen};; esac`;
    const outcomes: string[] = [];
    const warnings: string[] = [];
    const runner = new CommandRunner(['sh', '-c', script], { concurrency: 1, queue: 1, timeoutMs: 300 }, (o) => outcomes.push(o), {
      warn: (_f: unknown, msg?: string) => void warnings.push(String(msg)),
    });
    runner.submit('{"hang":true}\n');
    runner.submit('{"n":2}\n');
    assert.equal(runner.waiting, 1, 'the second waits for the only slot');
    const pid = await waitFor(() => existsSync(pids) && Number(readFileSync(pids, 'utf8').trim()), { what: 'the hanging hook started' });
    await waitFor(() => outcomes.length === 2, { what: 'both hooks finished', timeoutMs: 10_000 });
    assert.deepEqual(outcomes, ['failed', 'ok']);
    assert.equal(alive(pid), false, 'the hanging hook was killed');
    assert.equal(readFileSync(seen, 'utf8'), '{"n":2}\n');
    assert.equal(runner.running, 0);
    assert.equal(warnings.length, 1);
  });
});

describe('answers.jsonlFile rotation', () => {
  it('a rotation that finds the file removed from outside starts a new file and keeps appending', () => {
    const file = join(dir, 'answers.jsonl');
    const lines = new RotatingLines(file, 100, 2);
    const line = (n: number) => `${JSON.stringify({ n, pad: 'x'.repeat(30) })}\n`;
    lines.append(line(1));
    lines.append(line(2));
    rmSync(file); // an operator's cleanup, or logrotate without copytruncate
    lines.append(line(3)); // past 100 bytes by the tracked size: rotates, and finds nothing to rename
    assert.equal(readFileSync(file, 'utf8'), line(3));
    assert.equal(existsSync(`${file}.1`), false);
    lines.append(line(4));
    lines.append(line(5)); // a normal rotation again
    assert.equal(readFileSync(`${file}.1`, 'utf8'), line(3) + line(4));
    assert.equal(readFileSync(file, 'utf8'), line(5));
  });
});
