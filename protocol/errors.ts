/**
 * Expected failures: bad input from a person or another program (a file, a
 * flag, an environment variable, a config path, a frame). Every such error
 * class extends UserError, so the command line tells them from bugs by type,
 * not by a list of names: a UserError is printed as its one-line message
 * (which names the input and what was expected) with exit 1; anything else
 * is an internal error (exit 70). The message must start with the input it
 * is about (`photo.jpg: ...`, `--set a.b=1: ...`, `outbox.path: ...`).
 */
export class UserError extends Error {
  override readonly name: string = 'UserError';
}

/** True for expected failures, including those raised by another copy of this module (workers, bundles). */
export function isUserError(error: unknown): error is UserError {
  return error instanceof UserError;
}
