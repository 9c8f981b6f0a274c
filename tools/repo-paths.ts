// The repository's root, for the harness in tools/ (used by test/ and bench/ alike).
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
