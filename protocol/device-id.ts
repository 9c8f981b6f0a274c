/**
 * Device ids appear in MQTT topics and in every frame header. They are one
 * topic level of plain ASCII: no wildcard (`+`, `#`), no separator (`/`), no
 * leading `$` (reserved for broker topics), at most 64 characters, so the
 * frame can carry them with a one-byte length.
 */
import { UserError } from './errors.ts';
export const DEVICE_ID_MAX_LENGTH = 64;
const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Why `id` is not a valid device id, or null when it is. */
export function deviceIdProblem(id: unknown): string | null {
  if (typeof id !== 'string') return `expected a string, got ${typeof id}`;
  if (id.length === 0) return 'must not be empty';
  if (id.length > DEVICE_ID_MAX_LENGTH) return `must be at most ${DEVICE_ID_MAX_LENGTH} characters, got ${id.length}`;
  if (!DEVICE_ID_PATTERN.test(id)) {
    return `${JSON.stringify(id)} must start with a letter or digit and contain only letters, digits, '.', '_' and '-' (no '+', '#', '/')`;
  }
  return null;
}

export class DeviceIdError extends UserError {
  override readonly name = 'DeviceIdError';
}

export function assertDeviceId(id: unknown, what = 'device id'): asserts id is string {
  const problem = deviceIdProblem(id);
  if (problem) throw new DeviceIdError(`${what}: ${problem}`);
}
