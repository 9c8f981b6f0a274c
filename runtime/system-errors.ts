/**
 * Node's file and network errors that are the user's to fix (a missing file,
 * a folder where a file was expected, a port in use, nothing listening)
 * turned into one line naming the path or address. Commands name their
 * inputs themselves where they can; this is the net under them, so that
 * "ENOENT: no such file or directory, open 'x'" never reaches a user raw.
 */
const FILE_REASONS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  EISDIR: 'is a folder, expected a file',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'name too long',
};

const NET_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused (nothing listening there?)',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available on this machine',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed (temporary)',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

/** One line for an expected system error, or null when `error` is not one (a bug). */
export function describeSystemError(error: unknown): string | null {
  if (!(error instanceof Error)) return null;
  const e = error as NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string };
  const code = e.code;
  if (!code) return null;
  if (FILE_REASONS[code] && e.path) return `${e.path}: ${FILE_REASONS[code]} (${code})`;
  if (NET_REASONS[code]) {
    const where = e.address ? `${e.address}${e.port !== undefined ? `:${e.port}` : ''}` : (e.hostname ?? '');
    return `${where ? `${where}: ` : ''}${NET_REASONS[code]} (${code})`;
  }
  return null;
}
