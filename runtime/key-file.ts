/**
 * Secret keys from files, never from the command line or the environment:
 * the file must not be readable by group or others, and holds the key as hex
 * or base64 (at least 16 bytes). Errors name the file, never its content.
 */
import { readFileSync, statSync } from 'node:fs';
import { UserError } from '../protocol/errors.ts';

export class KeyFileError extends UserError {
  override readonly name = 'KeyFileError';
}

export const MIN_KEY_BYTES = 16;

export function readKeyFile(path: string): Buffer {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch (error) {
    throw new KeyFileError(`${path}: cannot read the key file (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  if (mode & 0o077) {
    throw new KeyFileError(`${path}: key file is readable by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); chmod 600 it`);
  }
  const text = readFileSync(path, 'utf8').trim();
  const key = /^[0-9a-fA-F]+$/.test(text) && text.length % 2 === 0 ? Buffer.from(text, 'hex')
    : /^[A-Za-z0-9+/]+={0,2}$/.test(text) ? Buffer.from(text, 'base64') : null;
  if (!key || key.length < MIN_KEY_BYTES) {
    throw new KeyFileError(`${path}: expected a key of at least ${MIN_KEY_BYTES} bytes as hex or base64 on one line (e.g. openssl rand -hex 32)`);
  }
  return key;
}
