/** Locations the commands fall back to when the user names none. */
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';

/** The committed tiny demo models (untrained, for tests and the demo). */
export const DEFAULT_MODEL_DIR = fileURLToPath(new URL('../models/tiny', import.meta.url));

/** The host name made into a valid device id. */
export function defaultDeviceId(): string {
  const cleaned = hostname().replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 64);
  return cleaned || 'edge';
}
