/**
 * Secret keys from files, never from the command line or the environment.
 * The path must name a regular file (not a symbolic link, FIFO, device or
 * folder) owned by this process's user or root, not readable by group or
 * others, of at most MAX_KEY_FILE_BYTES, holding the key as hex or base64
 * (at least 16 bytes). It is opened without following links and without
 * blocking (a FIFO would otherwise stall the whole process until a writer
 * appears), and checked on the open descriptor, so what is checked is what is
 * read. Errors name the file, never its content.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { UserError } from '../protocol/errors.ts';

export class KeyFileError extends UserError {
  override readonly name = 'KeyFileError';
}

export const MIN_KEY_BYTES = 16;
/** A key is at most a few hundred characters; anything larger is not a key file. */
export const MAX_KEY_FILE_BYTES = 4096;

function kind(mode: number): string {
  const type = mode & constants.S_IFMT;
  if (type === constants.S_IFDIR) return 'a folder';
  if (type === constants.S_IFIFO) return 'a FIFO';
  if (type === constants.S_IFSOCK) return 'a socket';
  if (type === constants.S_IFCHR || type === constants.S_IFBLK) return 'a device';
  return 'not a regular file';
}

function readChecked(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new KeyFileError(`${path}: the key file is a symbolic link; expected a regular file`);
    throw new KeyFileError(`${path}: cannot read the key file (${code ?? 'unreadable'})`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new KeyFileError(`${path}: the key file is ${kind(stat.mode)}; expected a regular file`);
    const uid = process.geteuid?.() ?? 0;
    if (stat.uid !== uid && stat.uid !== 0) {
      throw new KeyFileError(`${path}: the key file belongs to user ${stat.uid}; expected this service's user (${uid}) or root`);
    }
    if (stat.mode & 0o077) {
      throw new KeyFileError(`${path}: key file is readable by group or others (mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}); chmod 600 it`);
    }
    if (stat.size > MAX_KEY_FILE_BYTES) throw new KeyFileError(`${path}: the key file has ${stat.size} bytes; expected at most ${MAX_KEY_FILE_BYTES}`);
    const buffer = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
    const length = readSync(fd, buffer, 0, buffer.length, 0);
    if (length > MAX_KEY_FILE_BYTES) throw new KeyFileError(`${path}: the key file has over ${MAX_KEY_FILE_BYTES} bytes; expected a key on one line`);
    return buffer.subarray(0, length).toString('utf8').trim();
  } finally {
    closeSync(fd);
  }
}

export function readKeyFile(path: string): Buffer {
  const text = readChecked(path);
  const key = /^[0-9a-fA-F]+$/.test(text) && text.length % 2 === 0 ? Buffer.from(text, 'hex') : /^[A-Za-z0-9+/]+={0,2}$/.test(text) ? Buffer.from(text, 'base64') : null;
  if (!key || key.length < MIN_KEY_BYTES) {
    throw new KeyFileError(`${path}: expected a key of at least ${MIN_KEY_BYTES} bytes as hex or base64 on one line (e.g. openssl rand -hex 32)`);
  }
  return key;
}
