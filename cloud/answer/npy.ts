/**
 * NumPy .npy format version 1.0 for little-endian float32 and int64 arrays:
 * what vLLM's image-embedding loader (np.load, pickles refused) accepts.
 * https://numpy.org/devdocs/reference/generated/numpy.lib.format.html
 */
import { UserError } from '../../protocol/errors.ts';
const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

export type NpyArray = { descr: '<f4'; data: Float32Array; shape: number[] } | { descr: '<i8'; data: BigInt64Array; shape: number[] };

export class NpyError extends UserError {
  override readonly name = 'NpyError';
}

export function encodeNpy(array: NpyArray): Buffer {
  const count = array.shape.reduce((a, b) => a * b, 1);
  if (count !== array.data.length) throw new NpyError(`shape [${array.shape.join(', ')}] holds ${count} values, the data ${array.data.length}`);
  const shape = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(', ')})`;
  let header = `{'descr': '${array.descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const unpadded = MAGIC.length + 2 + 2 + header.length + 1;
  header += `${' '.repeat((64 - (unpadded % 64)) % 64)}\n`; // data starts on a 64-byte boundary
  const prefix = Buffer.alloc(MAGIC.length + 4);
  MAGIC.copy(prefix);
  prefix[6] = 1; // format 1.0
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  const body = Buffer.from(array.data.buffer, array.data.byteOffset, array.data.byteLength);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), body]);
}

export function decodeNpy(bytes: Buffer): NpyArray {
  if (bytes.length < 10 || !bytes.subarray(0, 6).equals(MAGIC)) throw new NpyError('not .npy data (no \\x93NUMPY magic)');
  if (bytes[6] !== 1) throw new NpyError(`.npy format version ${bytes[6]}.${bytes[7]}, only 1.0 is read here`);
  const headerLength = bytes.readUInt16LE(8);
  const header = bytes.subarray(10, 10 + headerLength).toString('latin1');
  const match = /^\{'descr': '([<>|][a-z]\d+)', 'fortran_order': (True|False), 'shape': \(([\d, ]*)\), \}\s*\n$/.exec(header);
  if (!match) throw new NpyError(`.npy header not understood: ${JSON.stringify(header.slice(0, 120))}`);
  const [, descr, fortran, shapeText] = match;
  if (fortran !== 'False') throw new NpyError('.npy array is in Fortran order');
  const shape = shapeText!
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const start = 10 + headerLength;
  const body = bytes.subarray(start);
  const copy = (size: number) => {
    if (body.length !== count * size) throw new NpyError(`.npy data is ${body.length} bytes, shape [${shape.join(', ')}] of ${descr} needs ${count * size}`);
    return new Uint8Array(body).buffer;
  };
  if (descr === '<f4') return { descr, data: new Float32Array(copy(4)), shape };
  if (descr === '<i8') return { descr, data: new BigInt64Array(copy(8)), shape };
  throw new NpyError(`.npy dtype ${descr} is not float32 or int64 little-endian`);
}
