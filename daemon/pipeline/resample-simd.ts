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

const simd = (code: number, ...immediates: number[]) => [0xfd, ...uleb(code), ...immediates];
// The instructions the kernels use, by short names: WebAssembly core and SIMD opcodes (memarg: align, offset).
const CORE: Record<string, number[]> = { add: [0x6a], mul: [0x6c], ne: [0x47], lt_u: [0x49], load: [0x28, 2, 0], loop: [0x03, 0x40], end: [0x0b] };
const MEMORY: Record<string, number[]> = { 'v128.load': simd(0x00, 0, 0), load8x8_u: simd(0x02, 0, 0), 'v128.store': simd(0x0b, 0, 0), store32_lane0: simd(0x5a, 0, 0, 0) };
const LANES = { splat: 0x11, narrow_u8: 0x66, narrow_s16: 0x85, ext16_lo: 0x89, ext16_hi: 0x8a, ext32_lo: 0xa9, ext32_hi: 0xaa, shr_s: 0xac, vadd: 0xae, vmul: 0xb5 };
const OPS: Record<string, number[]> = { ...CORE, ...MEMORY, ...Object.fromEntries(Object.entries(LANES).map(([name, code]) => [name, simd(code)])) };
/** Instructions with one integer immediate (i32 is i32.const, signed). */
const INDEXED: Record<string, number> = { get: 0x20, set: 0x21, tee: 0x22, br_if: 0x0d };

/** Whitespace-separated instructions, `;` comments to the end of the line -> the body's bytes. */
function assemble(text: string): number[] {
  const tokens = text
    .replace(/;[^\n]*/g, '')
    .split(/\s+/)
    .filter(Boolean);
  const out: number[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const name = tokens[i]!;
    if (name === 'i32' || INDEXED[name] !== undefined) {
      const n = Number(tokens[++i]);
      if (!Number.isInteger(n)) throw new Error(`resample-simd: ${name} needs an integer, got ${tokens[i]}`);
      out.push(...(name === 'i32' ? [0x41, ...sleb(n)] : [INDEXED[name]!, ...uleb(n)]));
    } else if (OPS[name]) out.push(...OPS[name]);
    else throw new Error(`resample-simd: unknown instruction ${name}`);
  }
  return out;
}

// hpass(src 0, srcStride 1, rows 2, mid 3, cols 4, firsts 5, counts 6, weights 7, weightStride 8); locals y 9, x 10, p 11, n 12, w 13, dst 14, row 15; acc 16 (v128).
const HPASS = `
  get 3 set 14  get 0 set 15                                  ; dst = mid, row = src
  loop                                                        ; each source row
    i32 0 set 10
    loop                                                      ; each output pixel x
      i32 ${HALF} splat set 16                                ; acc = half a unit in every lane
      get 15 get 5 get 10 i32 4 mul add load add set 11       ; p = row + firsts[x]
      get 6 get 10 i32 4 mul add load set 12                  ; n = counts[x] (at least 1)
      get 7 get 10 get 8 mul add set 13                       ; w = weights + x * weightStride
      loop                                                    ; each tap: acc += (R, G, B, next R) * weight
        get 11 load8x8_u ext32_lo  get 13 load splat  vmul get 16 vadd set 16
        get 11 i32 3 add set 11  get 13 i32 4 add set 13
        get 12 i32 -1 add tee 12 br_if 0
      end
      get 14  get 16 i32 ${SHIFT} shr_s tee 16 get 16 narrow_s16 tee 16 get 16 narrow_u8  store32_lane0   ; clip8 of R, G, B (4th byte rewritten next)
      get 14 i32 3 add set 14
      get 10 i32 1 add tee 10 get 4 ne br_if 0
    end
    get 15 get 1 add set 15
    get 9 i32 1 add tee 9 get 2 ne br_if 0
  end`;
// vpass(mid 0, midStride 1, rowLength 2, rows 3, firsts 4, counts 5, weights 6, weightStride 7, out 8); locals y 9, i 10, p 11, n 12, w 13, dst 14; a0-a3 15-18, px 19, ws 20 (v128).
const VPASS = `
  get 8 set 14                                                ; dst = out
  loop                                                        ; each output row y
    i32 0 set 10
    loop                                                      ; each 16 bytes i of the row
      i32 ${HALF} splat tee 15 tee 16 tee 17 set 18
      get 0 get 4 get 9 i32 4 mul add load add get 10 add set 11   ; p = mid + firsts[y] + i
      get 5 get 9 i32 4 mul add load set 12                   ; n = counts[y]
      get 6 get 9 get 7 mul add set 13                        ; w = weights + y * weightStride
      loop                                                    ; each tap: 16 bytes of one source row * its weight
        get 11 v128.load set 19  get 13 load splat set 20
        get 19 ext16_lo ext32_lo get 20 vmul get 15 vadd set 15
        get 19 ext16_lo ext32_hi get 20 vmul get 16 vadd set 16
        get 19 ext16_hi ext32_lo get 20 vmul get 17 vadd set 17
        get 19 ext16_hi ext32_hi get 20 vmul get 18 vadd set 18
        get 11 get 1 add set 11  get 13 i32 4 add set 13
        get 12 i32 -1 add tee 12 br_if 0
      end
      get 14 get 10 add                                       ; clip8 of the 16 sums -> dst + i
      get 15 i32 ${SHIFT} shr_s get 16 i32 ${SHIFT} shr_s narrow_s16
      get 17 i32 ${SHIFT} shr_s get 18 i32 ${SHIFT} shr_s narrow_s16 narrow_u8 v128.store
      get 10 i32 16 add tee 10 get 2 lt_u br_if 0
    end
    get 14 get 2 add set 14
    get 9 i32 1 add tee 9 get 3 ne br_if 0
  end`;

function moduleBytes(): Uint8Array {
  const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
  const name = (s: string) => [...uleb(s.length), ...Buffer.from(s, 'ascii')];
  const body = (i32s: number, v128s: number, code: number[]) => {
    const inner = [2, ...uleb(i32s), 0x7f, ...uleb(v128s), 0x7b, ...code, ...OPS.end!];
    return [...uleb(inner.length), ...inner];
  };
  const magicAndVersion = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const exported = [3, ...name('memory'), 2, 0, ...name('hpass'), 0, 0, ...name('vpass'), 0, 1];
  return new Uint8Array([
    ...magicAndVersion,
    ...section(1, [1, 0x60, 9, ...new Array(9).fill(0x7f), 0]), // one type: nine i32 parameters, no result
    ...section(3, [2, 0, 0]), // two functions of that type
    ...section(5, [1, 0x00, 1]), // one memory, one page to start, grown from JS
    ...section(7, exported),
    ...section(10, [2, ...body(7, 1, assemble(HPASS)), ...body(6, 6, assemble(VPASS))]),
  ]);
}

// The project's TypeScript libs carry no WebAssembly types; the little used here, declared.
declare const WebAssembly: {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: object };
};
type Kernel = (...args: number[]) => void;
interface Kernels {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  hpass: Kernel;
  vpass: Kernel;
}

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
    stripRows * srcStride,
    ww * 4,
    ww * 4,
    h ? ww * h.stride * 4 : 0,
    rows * rowLength,
    wh * 4,
    wh * 4,
    v ? wh * v.stride * 4 : 0,
    wh * rowLength,
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
