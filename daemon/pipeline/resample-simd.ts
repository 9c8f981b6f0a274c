/**
 * The two passes of Pillow's resampling for 3-channel images as WebAssembly
 * SIMD kernels: the same 22-bit fixed-point weights (computed in JS by
 * bicubic.ts), the same int32 sums starting at half a unit, the same shift
 * and clip to 0..255, so the bytes equal the JS port's (tested) and Pillow's.
 * - horizontal: one output pixel at a time, R, G, B (and a spare lane) of each
 *   tap in one i32x4 multiply-add;
 * - vertical: 16 bytes of an output row at a time, four i32x4 accumulators,
 *   one weight per source row.
 * The module is a few hundred bytes assembled here at load time (no toolchain,
 * nothing fetched); without WebAssembly SIMD, simdAvailable is false and the
 * JS port runs instead.
 */
import type { OutputWindow, Taps } from './bicubic.ts';

const HALF = 1 << 21;
const STRIP_BYTES = 1 << 20;
const SHIFT = 22;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) return [...out, byte];
    out.push(byte | 0x80);
  }
}

// The few instructions the kernels use (WebAssembly core + SIMD opcodes).
const get = (i: number) => [0x20, ...uleb(i)];
const set = (i: number) => [0x21, ...uleb(i)];
const tee = (i: number) => [0x22, ...uleb(i)];
const i32 = (v: number) => [0x41, ...sleb(v)];
const ADD = [0x6a], MUL = [0x6c], NE = [0x47], LT_U = [0x49];
const LOAD_I32 = [0x28, 2, 0];
const LOOP = [0x03, 0x40], END = [0x0b];
const brIf = (depth: number) => [0x0d, depth];
const simd = (code: number, ...immediates: number[]) => [0xfd, ...uleb(code), ...immediates];
const V128_LOAD = simd(0x00, 0, 0), V128_LOAD8X8_U = simd(0x02, 0, 0), V128_STORE = simd(0x0b, 0, 0);
const STORE32_LANE0 = simd(0x5a, 0, 0, 0), SPLAT = simd(0x11);
const NARROW_U8 = simd(0x66), NARROW_S16 = simd(0x85);
const EXT16_LO = simd(0x89), EXT16_HI = simd(0x8a), EXT32_LO = simd(0xa9), EXT32_HI = simd(0xaa);
const SHR_S = simd(0xac), V_ADD = simd(0xae), V_MUL = simd(0xb5);
/** local = local + value * splat(weight): value and weight already on the stack as v128s. */
const accumulate = (local: number) => [...V_MUL, ...get(local), ...V_ADD, ...set(local)];
/** Two i32x4 locals -> eight i16 lanes of (sum >> 22), saturated. */
const shifted = (a: number, b: number) => [...get(a), ...i32(SHIFT), ...SHR_S, ...get(b), ...i32(SHIFT), ...SHR_S, ...NARROW_S16];
const increment = (local: number, by: number[]) => [...get(local), ...by, ...ADD, ...set(local)];

// hpass(src, srcStride, rows, mid, cols, firsts, counts, weights, weightStride): locals y 9, x 10, p 11, n 12, w 13, dst 14, row 15; acc 16.
const hpass = [
  ...get(3), ...set(14), ...get(0), ...set(15),
  ...LOOP, ...i32(0), ...set(10),
  ...LOOP, ...i32(HALF), ...SPLAT, ...set(16),
  ...get(15), ...get(5), ...get(10), ...i32(4), ...MUL, ...ADD, ...LOAD_I32, ...ADD, ...set(11),
  ...get(6), ...get(10), ...i32(4), ...MUL, ...ADD, ...LOAD_I32, ...set(12),
  ...get(7), ...get(10), ...get(8), ...MUL, ...ADD, ...set(13),
  ...LOOP, ...get(11), ...V128_LOAD8X8_U, ...EXT32_LO, ...get(13), ...LOAD_I32, ...SPLAT, ...accumulate(16),
  ...increment(11, i32(3)), ...increment(13, i32(4)), ...get(12), ...i32(-1), ...ADD, ...tee(12), ...brIf(0), ...END,
  ...get(14), ...shifted(16, 16), ...tee(16), ...get(16), ...NARROW_U8, ...STORE32_LANE0,
  ...increment(14, i32(3)), ...get(10), ...i32(1), ...ADD, ...tee(10), ...get(4), ...NE, ...brIf(0), ...END,
  ...increment(15, get(1)), ...get(9), ...i32(1), ...ADD, ...tee(9), ...get(2), ...NE, ...brIf(0), ...END,
];
// vpass(mid, midStride, rowLength, rows, firsts, counts, weights, weightStride, out): locals y 9, i 10, p 11, n 12, w 13, dst 14; a0-a3 15-18, px 19, ws 20.
const vpass = [
  ...get(8), ...set(14),
  ...LOOP, ...i32(0), ...set(10),
  ...LOOP, ...[15, 16, 17, 18].flatMap((a) => [...i32(HALF), ...SPLAT, ...set(a)]),
  ...get(0), ...get(4), ...get(9), ...i32(4), ...MUL, ...ADD, ...LOAD_I32, ...ADD, ...get(10), ...ADD, ...set(11),
  ...get(5), ...get(9), ...i32(4), ...MUL, ...ADD, ...LOAD_I32, ...set(12),
  ...get(6), ...get(9), ...get(7), ...MUL, ...ADD, ...set(13),
  ...LOOP, ...get(11), ...V128_LOAD, ...set(19), ...get(13), ...LOAD_I32, ...SPLAT, ...set(20),
  ...get(19), ...EXT16_LO, ...EXT32_LO, ...get(20), ...accumulate(15),
  ...get(19), ...EXT16_LO, ...EXT32_HI, ...get(20), ...accumulate(16),
  ...get(19), ...EXT16_HI, ...EXT32_LO, ...get(20), ...accumulate(17),
  ...get(19), ...EXT16_HI, ...EXT32_HI, ...get(20), ...accumulate(18),
  ...increment(11, get(1)), ...increment(13, i32(4)), ...get(12), ...i32(-1), ...ADD, ...tee(12), ...brIf(0), ...END,
  ...get(14), ...get(10), ...ADD, ...shifted(15, 16), ...shifted(17, 18), ...NARROW_U8, ...V128_STORE,
  ...get(10), ...i32(16), ...ADD, ...tee(10), ...get(2), ...LT_U, ...brIf(0), ...END,
  ...increment(14, get(2)), ...get(9), ...i32(1), ...ADD, ...tee(9), ...get(3), ...NE, ...brIf(0), ...END,
];

function moduleBytes(): Uint8Array {
  const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
  const name = (s: string) => [...uleb(s.length), ...Buffer.from(s, 'ascii')];
  const body = (locals: number[][], code: number[]) => {
    const inner = [...uleb(locals.length), ...locals.flat(), ...code, ...END];
    return [...uleb(inner.length), ...inner];
  };
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 9, ...new Array(9).fill(0x7f), 0]),
    ...section(3, [2, 0, 0]),
    ...section(5, [1, 0x00, 1]),
    ...section(7, [3, ...name('memory'), 2, 0, ...name('hpass'), 0, 0, ...name('vpass'), 0, 1]),
    ...section(10, [2, ...body([[7, 0x7f], [1, 0x7b]], hpass), ...body([[6, 0x7f], [6, 0x7b]], vpass)]),
  ]);
}

// The project's TypeScript libs carry no WebAssembly types; the little used here, declared.
declare const WebAssembly: {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: object };
};
type Kernel = (...args: number[]) => void;
interface Kernels { memory: { buffer: ArrayBuffer; grow(pages: number): number }; hpass: Kernel; vpass: Kernel }

function instantiate(): Kernels | null {
  const bytes = moduleBytes();
  if (!WebAssembly.validate(bytes)) return null; // no SIMD in this runtime
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes));
  return exports as unknown as Kernels;
}
const kernels = instantiate();
export const simdAvailable = kernels !== null;

/** Byte offsets in the module's memory, each 16-aligned; the memory grows once to the largest frame seen and is reused. */
function layout(sizes: number[]): number[] {
  const offsets: number[] = [];
  let at = 0;
  for (const size of sizes) {
    offsets.push(at);
    at += Math.ceil((size + 16) / 16) * 16; // 16 spare bytes: the kernels read and write up to 15 past the end
  }
  const memory = kernels!.memory;
  if (at > memory.buffer.byteLength) memory.grow(Math.ceil((at - memory.buffer.byteLength) / 65536));
  return offsets;
}

function tables(t: Taps, from: number, n: number, firstToOffset: (first: number) => number, at: [number, number, number]) {
  const buffer = kernels!.memory.buffer;
  const firsts = new Int32Array(buffer, at[0], n);
  for (let i = 0; i < n; i++) firsts[i] = firstToOffset(t.first[from + i]!);
  new Int32Array(buffer, at[1], n).set(t.count.subarray(from, from + n));
  new Int32Array(buffer, at[2], n * t.stride).set(t.weights.subarray(from * t.stride, (from + n) * t.stride));
}

/** resamplePillow for 3 channels with the kernels: `h`/`v` null where that axis keeps its size. */
export function resampleSimd(src: Uint8Array, width: number, h: Taps | null, v: Taps | null, window: OutputWindow): Uint8Array {
  const { left, top, width: ww, height: wh } = window;
  const rowFirst = v ? v.first[top]! : top;
  const rowEnd = v ? v.first[top + wh - 1]! + v.count[top + wh - 1]! : top + wh;
  const colFirst = h ? h.first[left]! : left;
  const colEnd = h ? h.first[left + ww - 1]! + h.count[left + ww - 1]! : left + ww;
  const rows = rowEnd - rowFirst;
  const srcStride = (colEnd - colFirst) * 3; // without a horizontal pass, the window's columns: rowLength
  const rowLength = ww * 3;
  // The horizontal pass reads the source a strip of rows at a time, so the module's memory stays at a few MB
  // (the strip, the 8-bit intermediate, the output) whatever the frame's size.
  const stripRows = h ? Math.max(1, Math.min(rows, Math.floor(STRIP_BYTES / srcStride))) : 0;
  const [stripAt, hFirsts, hCounts, hWeights, midAt, vFirsts, vCounts, vWeights, outAt] = layout([
    stripRows * srcStride, ww * 4, ww * 4, h ? ww * h.stride * 4 : 0, rows * rowLength,
    wh * 4, wh * 4, v ? wh * v.stride * 4 : 0, wh * rowLength,
  ]) as [number, number, number, number, number, number, number, number, number];
  const memory = new Uint8Array(kernels!.memory.buffer);
  /** Only the source columns the window reads are copied in. */
  const copyRows = (first: number, count: number, to: number) => {
    for (let y = 0; y < count; y++) {
      const from = ((rowFirst + first + y) * width + colFirst) * 3;
      memory.set(src.subarray(from, from + srcStride), to + y * srcStride);
    }
  };
  if (h) {
    tables(h, left, ww, (first) => (first - colFirst) * 3, [hFirsts, hCounts, hWeights]);
    for (let y = 0; y < rows; y += stripRows) {
      const count = Math.min(stripRows, rows - y);
      copyRows(y, count, stripAt);
      kernels!.hpass(stripAt, srcStride, count, midAt + y * rowLength, ww, hFirsts, hCounts, hWeights, h.stride * 4);
    }
  } else {
    copyRows(0, rows, midAt);
  }
  const mid = midAt;
  const midStride = rowLength;
  if (!v) {
    const out = new Uint8Array(wh * rowLength);
    for (let y = 0; y < wh; y++) out.set(memory.subarray(mid + y * midStride, mid + y * midStride + rowLength), y * rowLength);
    return out;
  }
  tables(v, top, wh, (first) => (first - rowFirst) * midStride, [vFirsts, vCounts, vWeights]);
  kernels!.vpass(mid, midStride, rowLength, wh, vFirsts, vCounts, vWeights, v.stride * 4, outAt);
  return memory.slice(outAt, outAt + wh * rowLength);
}
