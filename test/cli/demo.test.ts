// `make demo` is the first thing a newcomer runs: it must keep working. It
// starts the cloud worker with its embedded broker and the edge daemon as
// real processes and waits for every answer.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { it } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../helpers/paths.ts';

// One run of the demo (about a minute) serves every test below.
let run: Promise<{ stdout: string }> | undefined;
const demo = () => (run ??= promisify(execFile)(process.execPath, [join(REPO_ROOT, 'scripts', 'demo.ts')], { cwd: REPO_ROOT, timeout: 230_000 }));

it('the demo answers every sample frame end to end, says the models are untrained, and exits 0', { timeout: 240_000 }, async () => {
  const { stdout } = await demo();
  assert.match(stdout, /UNTRAINED/);
  assert.match(stdout, /^demo-cam\s+coffee\.png\s+3247\s+\d+\.\d\s+\d+\s+".*"$/m);
  assert.match(stdout, /truncated\.jpg\s+skipped at the edge/);
  assert.match(stdout, /frames answered\s+9 of 9 sent \(0 error answers\), 1 skipped at the edge/);
  assert.match(stdout, /bytes on the wire\s+29223 in all, 3247 per frame/);
  assert.match(stdout, /end-to-end ms\s+median \d+, p95 \d+/);
  const answers = stdout
    .split('\n')
    .filter((l) => /^demo-cam .*"$/.test(l))
    .map((l) => l.slice(l.indexOf('"')));
  assert.equal(answers.length, 9);
  assert.ok(new Set(answers).size > 1, 'different images, different (noise) answers');
});

it('the demo pairs every frame with its whole-picture (JPEG) answer and counts agreement consistently', { timeout: 240_000 }, async () => {
  const { stdout } = await demo();
  const answerOf = (device: string) =>
    new Map(
      stdout.split('\n').flatMap((l) => {
        const m = l.match(new RegExp(`^${device}\\s+(\\S+)\\s+(\\d+)\\s+\\d+\\.\\d\\s+\\d+\\s+(".*")$`));
        return m ? [[m[1]!, { bytes: Number(m[2]), text: m[3]! }] as const] : [];
      }),
    );
  const neural = answerOf('demo-cam');
  const jpeg = answerOf('demo-cam-jpeg');
  assert.equal(neural.size, 9);
  assert.deepEqual([...jpeg.keys()].sort(), [...neural.keys()].sort(), 'the same frames went both ways');
  for (const [image, row] of jpeg) assert.ok(row.bytes > neural.get(image)!.bytes, `${image}: the JPEG frame is larger than the 3 KB one`);
  const verdicts = [...stdout.matchAll(/^ {2}(\S+)\s+(same|different)\b/gm)].map((m) => ({ image: m[1]!, same: m[2] === 'same' }));
  assert.deepEqual(verdicts.map((v) => v.image).sort(), [...neural.keys()].sort());
  for (const v of verdicts) assert.equal(v.same, neural.get(v.image)!.text === jpeg.get(v.image)!.text, `${v.image}: verdict matches the two printed answers`);
  const summary = stdout.match(/same answer as whole picture (\d+) of (\d+) frames/);
  assert.ok(summary, 'the summary reports the agreement');
  assert.equal(Number(summary[1]), verdicts.filter((v) => v.same).length);
  assert.equal(Number(summary[2]), 9);
});

it('the demo serves the operator console, prints its URL, and answers an ask sent through it', { timeout: 240_000 }, async () => {
  const { stdout } = await demo();
  assert.match(stdout, /^Console: http:\/\/127\.0\.0\.1:\d+\/ /m);
  assert.match(stdout, /^Ask now through the console \(request [A-Za-z0-9._:-]+, ".+"\): answered in \d+ ms: ".*"$/m);
  assert.match(stdout, /ask now \(console\)\s+answered in \d+ ms/);
});
