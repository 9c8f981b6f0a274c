/**
 * Files the programs write (the outbox, the dedup window, the answers file,
 * the cache): their folders are created on first use when the parent allows
 * it, with modes that keep the data to the service (0750: the service's group
 * may read, for backups and operators; never others). When a folder cannot be
 * created or written, the error is one line naming the setting, the path and
 * the reason, instead of SQLite's "unable to open database file".
 */
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UserError } from '../protocol/errors.ts';

export class StatePathError extends UserError {
  override readonly name = 'StatePathError';
}

/** Mode for state folders we create: owner rwx, group r-x, others nothing. */
export const STATE_FOLDER_MODE = 0o750;

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOTDIR: 'a part of the path is a file, not a folder',
  ENOSPC: 'no space left on the device',
  EEXIST: 'a file of that name is in the way',
};

function reason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  return code ? `${REASONS[code] ?? code}, ${code}` : (error as Error).message;
}

/**
 * Makes sure `file` can be created or opened for writing: its folder exists
 * (created with STATE_FOLDER_MODE if missing), is a folder and is writable, and
 * the file itself, if present, is a writable regular file. `setting` names the
 * configuration path (`outbox.path`) for the message. Returns the folder.
 */
export function ensureStateFile(file: string, setting: string): string {
  if (file === ':memory:') return '';
  const folder = dirname(resolve(file));
  checkStateFile(file, setting, folder); // the precise reason, before mkdir's EEXIST or EACCES
  try {
    // Each missing folder made on its own, from the nearest existing one down: Node's recursive mkdir
    // retries for ever where a file system answers ENOENT to a mkdir under a folder that exists (/proc, /sys).
    const missing: string[] = [];
    for (let dir = folder; !exists(dir); dir = dirname(dir)) missing.unshift(dir);
    for (const dir of missing) mkdirUnlessThere(dir);
  } catch (error) {
    throw new StatePathError(`${setting} ${file}: cannot create the folder ${folder} (${reason(error)}); create it, writable by the service, or choose another path`);
  }
  return folder;
}

/** The checks of ensureStateFile without creating anything (for `check`): throws StatePathError, or says what run would do. */
export function checkStateFile(file: string, setting: string, folder = dirname(resolve(file))): string {
  let parent = folder;
  // The nearest existing ancestor decides whether the missing folders can be created.
  while (!exists(parent)) parent = dirname(parent);
  if (!statSync(parent).isDirectory()) throw new StatePathError(`${setting} ${file}: ${parent} is a file, not a folder`);
  try {
    accessSync(parent, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw new StatePathError(`${setting} ${file}: the folder ${parent} is not writable (${reason(error)})`);
  }
  if (exists(file)) {
    if (!statSync(file).isFile()) throw new StatePathError(`${setting} ${file}: is a folder or device, expected a file`);
    try {
      accessSync(file, constants.R_OK | constants.W_OK);
    } catch (error) {
      throw new StatePathError(`${setting} ${file}: the file is not writable (${reason(error)})`);
    }
  }
  return parent === folder ? folder : `${folder} (created by run, mode 0${STATE_FOLDER_MODE.toString(8)})`;
}

/** mkdir, where a folder made meanwhile by someone else is as good. */
function mkdirUnlessThere(dir: string): void {
  try {
    mkdirSync(dir, { mode: STATE_FOLDER_MODE });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(dir).isDirectory()) throw error;
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}
