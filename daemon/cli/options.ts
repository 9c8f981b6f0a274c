/** Option parsers shared by the edge commands; each names the option and what it expects. */
import { InvalidArgumentError } from 'commander';
import type { QuantisationScheme } from '../../protocol/wire/quantise.ts';

export function parseThreads(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 256) throw new InvalidArgumentError(`expected an integer 0..256, got ${JSON.stringify(value)}`);
  return n;
}

export function parseScheme(value: string): QuantisationScheme {
  if (value !== 'per-tensor' && value !== 'per-token') throw new InvalidArgumentError(`expected per-tensor or per-token, got ${JSON.stringify(value)}`);
  return value;
}

/** A count of at least 1 (`answers -n`): "abc", "0", "-3" and "2.5" are refused, naming the option. */
export function parsePositiveCount(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`expected a whole number of at least 1, got ${JSON.stringify(value)}`);
  return n;
}
