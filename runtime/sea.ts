/**
 * Whether this process is the single binary (a Node single executable
 * application), and the files embedded in it.
 */
import { getAsset, getRawAsset, isSea } from 'node:sea';

export function isSingleBinary(): boolean {
  return isSea();
}

export function embeddedAsset(key: string): Buffer {
  return Buffer.from(getRawAsset(key));
}

export function embeddedText(key: string): string {
  return getAsset(key, 'utf8');
}
