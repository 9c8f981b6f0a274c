/**
 * Pillow's resampling (libImaging/Resample.c as in Pillow 9.x, the seed's
 * Image.resize(size, BICUBIC | BILINEAR) with its default reducing_gap=None,
 * so no Image.reduce step), bit for bit, in both directions:
 * - one separable convolution per axis, horizontal pass first into an 8-bit
 *   intermediate, then vertical; an axis whose size does not change is not
 *   resampled (Pillow skips it too);
 * - the kernel's support is stretched by the reduction factor (a 6.3x
 *   reduction averages ~25 source pixels per tap row), pixel centres at +0.5;
 * - weights computed in double exactly as Pillow's precompute_coeffs does
 *   (same operations in the same order, so the same bits), normalised to sum
 *   1, then rounded half away from zero to 22-bit fixed point; sums start at
 *   half a unit and are shifted down and clipped to 0..255.
 * Every output pixel depends only on its own taps, so computing only a window
 * of the output (the centre crop) gives the same values as resizing the whole
 * image and cropping after.
 */
import { resampleSimd, simdAvailable } from './resample-simd.ts';

export type ResampleFilter = 'bicubic' | 'bilinear';

/** Pillow's PRECISION_BITS for 8-bit images: 32 - 8 bits of value - 2 bits of headroom for the lobes. */
const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);

function bicubic(x: number): number {
  // Keys' cubic convolution, a = -0.5; the same expression tree as Pillow's bicubic_filter.
  if (x < 0) x = -x;
  if (x < 1) return (1.5 * x - 2.5) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * -0.5;
  return 0;
}

function bilinear(x: number): number {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}

const FILTERS: Record<ResampleFilter, { fn: (x: number) => number; support: number }> = {
  bicubic: { fn: bicubic, support: 2 },
  bilinear: { fn: bilinear, support: 1 },
};

/** One axis: for output index i, taps start at `first[i]`, `count[i]` of them, fixed-point weights at weights[i * stride]. */
export interface Taps {
  first: Int32Array;
  count: Int32Array;
  weights: Int32Array;
  stride: number;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for the whole image (box 0..inSize). */
export function taps(inSize: number, outSize: number, filter: ResampleFilter): Taps {
  const { fn, support: baseSupport } = FILTERS[filter];
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = baseSupport * filterScale;
  const stride = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * stride);
  const k = new Float64Array(stride);
  const ss = 1 / filterScale; // Pillow multiplies by the reciprocal; dividing would change last bits
  for (let xx = 0; xx < outSize; xx++) {
    const centre = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(centre - support + 0.5), 0);
    const n = Math.min(Math.trunc(centre + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < n; x++) {
      const w = fn((x + xmin - centre + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < n; x++) {
      const w = ww !== 0 ? k[x]! / ww : k[x]!;
      weights[xx * stride + x] = w < 0 ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS)) : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    first[xx] = xmin;
    count[xx] = n;
  }
  return { first, count, weights, stride };
}

/** Camera streams repeat one size: keep the last few tap tables (a few KB each). */
const tapCache = new Map<string, Taps>();
function cachedTaps(inSize: number, outSize: number, filter: ResampleFilter): Taps {
  const key = `${inSize}/${outSize}/${filter}`;
  let found = tapCache.get(key);
  if (!found) {
    if (tapCache.size >= 8) tapCache.delete(tapCache.keys().next().value!);
    found = taps(inSize, outSize, filter);
    tapCache.set(key, found);
  }
  return found;
}

const clip8 = (ss: number) => {
  const v = ss >> PRECISION_BITS; // |ss| < 2^31 (the two headroom bits), so the int32 shift is exact
  return Math.min(Math.max(v, 0), 255);
};

/** The horizontal pass's 8-bit rows and the vertical pass's accumulators, reused across frames (the passes are synchronous). */
let scratch = new Uint8Array(0);
let accumulators = new Int32Array(0);

export interface OutputWindow {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * Resize interleaved 8-bit pixels (`channels` per pixel) from width x height to
 * outWidth x outHeight as Pillow does, returning only `window` of the result
 * (default: all of it), row-major, `channels` per pixel. RGB goes through the
 * WebAssembly SIMD kernels where the runtime has them (same bytes, several
 * times faster), anything else through the JS port.
 */
export function resamplePillow(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
  filter: ResampleFilter = 'bicubic',
  window: OutputWindow = { left: 0, top: 0, width: outWidth, height: outHeight },
): Uint8Array {
  checkArguments(src, width, height, channels, outWidth, outHeight, window);
  if (channels !== 3 || !simdAvailable) return resamplePillowJs(src, width, height, channels, outWidth, outHeight, filter, window);
  const h = outWidth !== width ? cachedTaps(width, outWidth, filter) : null;
  const v = outHeight !== height ? cachedTaps(height, outHeight, filter) : null;
  return resampleSimd(src, width, h, v, window);
}

function checkArguments(src: Uint8Array, width: number, height: number, channels: number, outWidth: number, outHeight: number, window: OutputWindow): void {
  const { left, top, width: ww, height: wh } = window;
  if (src.length !== width * height * channels) throw new RangeError(`resample: ${src.length} bytes for ${width}x${height}x${channels}`);
  if (left < 0 || top < 0 || ww <= 0 || wh <= 0 || left + ww > outWidth || top + wh > outHeight) {
    throw new RangeError(`resample: window ${ww}x${wh}+${left}+${top} outside ${outWidth}x${outHeight}`);
  }
}

/** The same resampling in plain JS: any channel count, and the reference the SIMD kernels are tested against. */
export function resamplePillowJs(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
  filter: ResampleFilter = 'bicubic',
  window: OutputWindow = { left: 0, top: 0, width: outWidth, height: outHeight },
): Uint8Array {
  checkArguments(src, width, height, channels, outWidth, outHeight, window);
  const { left, top, width: ww, height: wh } = window;
  const v = outHeight !== height ? cachedTaps(height, outHeight, filter) : null;
  // Source rows the window's output rows read.
  const rowFirst = v ? v.first[top]! : top;
  const rowEnd = v ? v.first[top + wh - 1]! + v.count[top + wh - 1]! : top + wh;
  const rowLength = ww * channels;

  // Horizontal pass over those rows only, or the source columns themselves when the width stays.
  let mid: Uint8Array;
  let midStride: number;
  let midOffset: number;
  if (outWidth !== width) {
    const h = cachedTaps(width, outWidth, filter);
    const weights = h.weights;
    const needed = (rowEnd - rowFirst) * rowLength;
    if (scratch.length < needed) scratch = new Uint8Array(needed);
    mid = scratch;
    midStride = rowLength;
    midOffset = 0;
    for (let y = rowFirst; y < rowEnd; y++) {
      const rowIn = y * width * channels;
      let o = (y - rowFirst) * rowLength;
      for (let xx = left; xx < left + ww; xx++) {
        const n = h.count[xx]!;
        const base = xx * h.stride;
        const p0 = rowIn + h.first[xx]! * channels;
        if (channels === 3) {
          // Math.imul and |0 keep V8 on int32 arithmetic (a third faster); the sums never leave int32, as in Pillow.
          let s0 = HALF,
            s1 = HALF,
            s2 = HALF;
          for (let k = 0, p = p0; k < n; k++, p += 3) {
            const w = weights[base + k]!;
            s0 = (s0 + Math.imul(src[p]!, w)) | 0;
            s1 = (s1 + Math.imul(src[p + 1]!, w)) | 0;
            s2 = (s2 + Math.imul(src[p + 2]!, w)) | 0;
          }
          mid[o++] = clip8(s0);
          mid[o++] = clip8(s1);
          mid[o++] = clip8(s2);
        } else {
          for (let c = 0; c < channels; c++) {
            let s = HALF;
            for (let k = 0, p = p0 + c; k < n; k++, p += channels) s = (s + Math.imul(src[p]!, weights[base + k]!)) | 0;
            mid[o++] = clip8(s);
          }
        }
      }
    }
  } else {
    mid = src;
    midStride = width * channels;
    midOffset = rowFirst * midStride + left * channels;
  }

  const out = new Uint8Array(wh * rowLength);
  if (!v) {
    for (let y = 0; y < wh; y++) {
      const from = midOffset + (top + y - rowFirst) * midStride;
      out.set(mid.subarray(from, from + rowLength), y * rowLength);
    }
    return out;
  }
  // Vertical pass, a whole output row at a time: contiguous reads, one weight per source row.
  if (accumulators.length < rowLength) accumulators = new Int32Array(rowLength);
  const acc = accumulators;
  for (let yy = top; yy < top + wh; yy++) {
    acc.fill(HALF, 0, rowLength);
    const n = v.count[yy]!;
    const base = yy * v.stride;
    const rowAt = midOffset + (v.first[yy]! - rowFirst) * midStride;
    for (let k = 0; k < n; k++) {
      const w = v.weights[base + k]!;
      const from = rowAt + k * midStride;
      for (let i = 0; i < rowLength; i++) acc[i] = acc[i]! + Math.imul(mid[from + i]!, w);
    }
    const o = (yy - top) * rowLength;
    for (let i = 0; i < rowLength; i++) out[o + i] = clip8(acc[i]!);
  }
  return out;
}

/** The whole resized image (enlargements and reductions alike). */
export function resizeBicubic(src: Uint8Array, width: number, height: number, channels: number, outWidth: number, outHeight: number): Uint8Array {
  return resamplePillow(src, width, height, channels, outWidth, outHeight, 'bicubic');
}
