/**
 * Per-device frame keys for the worker: `<keysDir>/<device id>.key`, read
 * through runtime/key-file.ts (mode 600, hex or base64) and re-read when the
 * file changes, so keys can be added or rotated without a restart. A device
 * with a key must sign every frame; with `required`, so must every device.
 */
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { verifyFrame } from '../../protocol/wire/frame-auth.ts';
import { KeyFileError, readKeyFile } from '../../runtime/key-file.ts';

export type AuthVerdict = { ok: true; signed: boolean } | { ok: false; message: string };

export class DeviceKeys {
  readonly #dir: string | undefined;
  readonly #required: boolean;
  readonly #cache = new Map<string, { mtimeMs: number; key: Buffer }>();
  readonly #onKeyError: (error: KeyFileError) => void;

  constructor(dir: string | undefined, required: boolean, onKeyError: (error: KeyFileError) => void = () => undefined) {
    this.#dir = dir;
    this.#required = required;
    this.#onKeyError = onKeyError;
  }

  /** The device's key, or null when it has none. Throws KeyFileError for a file that is there but unusable. */
  keyFor(deviceId: string): Buffer | null {
    if (!this.#dir) return null;
    const path = join(this.#dir, `${deviceId}.key`);
    let mtimeMs: number;
    try {
      mtimeMs = lstatSync(path).mtimeMs;
    } catch (error) {
      this.#cache.delete(deviceId);
      // Only a missing file means "no key": any other failure must not let the device's frames through unsigned.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new KeyFileError(`${path}: cannot read the key file (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
    const cached = this.#cache.get(deviceId);
    if (cached && cached.mtimeMs === mtimeMs) return cached.key;
    const key = readKeyFile(path);
    this.#cache.set(deviceId, { mtimeMs, key });
    return key;
  }

  /** Checks a frame from the device named by its topic, before anything of it is decoded. */
  check(deviceId: string, frame: Uint8Array): AuthVerdict {
    let key: Buffer | null;
    try {
      key = this.keyFor(deviceId);
    } catch (error) {
      if (!(error instanceof KeyFileError)) throw error;
      this.#onKeyError(error);
      return { ok: false, message: `the worker's key for ${deviceId} is unusable; see its log` };
    }
    if (!key) return this.#required ? { ok: false, message: `no key for device ${deviceId}; this worker takes signed frames only` } : { ok: true, signed: false };
    if (!verifyFrame(frame, key)) return { ok: false, message: `frame is not signed with ${deviceId}'s key` };
    return { ok: true, signed: true };
  }
}
