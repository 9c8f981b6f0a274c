// runtime/state-paths.ts: the state folders a setting names are made one by
// one, mode 0750, and a folder that cannot be made is one error naming the
// setting, not a hang (Node's recursive mkdir retried for ever under /proc,
// where mkdir answers ENOENT).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { ensureStateFile, STATE_FOLDER_MODE } from '../../runtime/state-paths.ts';

const dir = mkdtempSync(join(tmpdir(), 'splitoculo-state-paths-'));
after(() => rmSync(dir, { recursive: true, force: true }));

it('makes every missing folder with the state mode', () => {
  const file = join(dir, 'a', 'b', 'c', 'outbox.db');
  assert.equal(ensureStateFile(file, 'outbox.path'), join(dir, 'a', 'b', 'c'));
  for (const folder of ['a', 'a/b', 'a/b/c']) assert.equal(statSync(join(dir, folder)).mode & 0o777, STATE_FOLDER_MODE & ~process.umask(), folder);
  assert.equal(ensureStateFile(file, 'outbox.path'), join(dir, 'a', 'b', 'c'), 'again: nothing to make');
});

it('a folder the file system will not make is an error naming the setting, at once', () => {
  // In a child with a time limit: the old loop was synchronous, no test timeout could end it.
  const child = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { ensureStateFile } from ${JSON.stringify(new URL('../../runtime/state-paths.ts', import.meta.url).href)};
       try { ensureStateFile('/proc/splitoculo-none/outbox.db', 'outbox.path'); console.log('made'); } catch (error) { console.log(error.name + ': ' + error.message); }`,
    ],
    { encoding: 'utf8', timeout: 20_000 },
  );
  assert.equal(child.signal, null, 'returned instead of spinning');
  assert.match(child.stdout, /^StatePathError: outbox\.path \/proc\/splitoculo-none\/outbox\.db: /);
});
