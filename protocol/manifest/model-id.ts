import { createHash } from 'node:crypto';

/**
 * The 16-byte model id of a model pair, as 32 hex digits. It changes when the
 * split layer or any model file changes, so a frame can never be decoded by a
 * model it was not encoded for. Must match models/splitoculo_export/exporting.py.
 */
export function computeModelId(splitLayer: number, fileHashes: Record<string, string>): string {
  const lines = ['splitoculo-model/1', `splitLayer=${splitLayer}`];
  for (const role of Object.keys(fileHashes).sort()) lines.push(`${role}=${fileHashes[role]}`);
  return createHash('sha256')
    .update(`${lines.join('\n')}\n`)
    .digest('hex')
    .slice(0, 32);
}
