// `make demo` is the first thing a newcomer runs: it must keep working. It
// starts the cloud worker with its embedded broker and the edge daemon as
// real processes and waits for every answer.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { it } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../helpers/paths.ts';

it('the demo answers every sample frame end to end, says the models are untrained, and exits 0', { timeout: 240_000 }, async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'scripts', 'demo.ts')], { cwd: REPO_ROOT, timeout: 230_000 });
  assert.match(stdout, /UNTRAINED/);
  assert.match(stdout, /^demo-cam\s+coffee\.png\s+3247\s+\d+\.\d\s+\d+\s+".*"$/m);
  assert.match(stdout, /truncated\.jpg\s+skipped at the edge/);
  assert.match(stdout, /frames answered\s+9 of 9 sent \(0 error answers\), 1 skipped at the edge/);
  assert.match(stdout, /bytes on the wire\s+29223 in all, 3247 per frame/);
  assert.match(stdout, /end-to-end ms\s+median \d+, p95 \d+/);
  const answers = stdout.split('\n').filter((l) => /^demo-cam .*"$/.test(l)).map((l) => l.slice(l.indexOf('"')));
  assert.equal(answers.length, 9);
  assert.ok(new Set(answers).size > 1, 'different images, different (noise) answers');
});
