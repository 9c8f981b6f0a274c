// `make demo` is the first thing a newcomer runs: it must keep working.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { it } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../helpers/paths.ts';

it('the demo encodes, sends and decodes every sample frame and says the models are untrained', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'scripts', 'demo.ts')], { cwd: REPO_ROOT });
  assert.match(stdout, /UNTRAINED/);
  assert.match(stdout, /^coffee\.png\s+\d+\s+3247\s/m);
  assert.match(stdout, /9 frames encoded, sent through the wire format and decoded to 256x64 features; 1 rejected/);
});
