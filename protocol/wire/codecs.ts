/** Codec and quantisation ids of wire format v1 (protocol/README.md, "Codec ids"). */
import type { QuantisationScheme } from './quantise.ts';

export type CodecName = 'neural-u8' | 'jpeg' | 'neural-u8-rans' | 'neural-u8-deflate';

interface CodecInfo {
  id: number;
  name: CodecName;
  /** Reserved ids are known but not yet decoded by this version. */
  supported: boolean;
}

export const CODECS: readonly CodecInfo[] = [
  { id: 1, name: 'neural-u8', supported: true },
  { id: 2, name: 'jpeg', supported: true },
  { id: 3, name: 'neural-u8-rans', supported: false },
  { id: 4, name: 'neural-u8-deflate', supported: false },
];

export function codecById(id: number): CodecInfo | undefined {
  return CODECS.find((codec) => codec.id === id);
}

export function codecByName(name: CodecName): CodecInfo {
  const codec = CODECS.find((c) => c.name === name);
  if (!codec) throw new RangeError(`unknown codec ${name}`);
  return codec;
}

export const QUANTISATION_IDS: Record<QuantisationScheme, number> = { 'per-tensor': 1, 'per-token': 2 };

export function quantisationById(id: number): QuantisationScheme | undefined {
  for (const [name, value] of Object.entries(QUANTISATION_IDS)) if (value === id) return name as QuantisationScheme;
  return undefined;
}
