/**
 * Pillow's bicubic resampling (Keys, a = -0.5), separable, horizontal pass
 * first with an 8-bit intermediate, pixel centres at +0.5, as
 * Image.resize(..., BICUBIC) does. Used for enlargements: libvips enlarges
 * with a different interpolator and differs from the seed's PIL pipeline by
 * several grey levels on sharp edges, while its reductions already agree.
 */
const A = -0.5;
const SUPPORT = 2;

function cubic(x: number): number {
  x = Math.abs(x);
  if (x < 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * A;
  return 0;
}

interface Taps {
  first: Int32Array;
  count: Int32Array;
  weights: Float64Array;
  width: number;
}

function taps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = SUPPORT * filterScale;
  const width = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * width);
  for (let xx = 0; xx < outSize; xx++) {
    const centre = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(centre - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(centre + support + 0.5), inSize) - xmin;
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      const w = cubic((x + xmin - centre + 0.5) / filterScale);
      weights[xx * width + x] = w;
      total += w;
    }
    if (total !== 0) for (let x = 0; x < xmax; x++) weights[xx * width + x]! /= total;
    first[xx] = xmin;
    count[xx] = xmax;
  }
  return { first, count, weights, width };
}

const clip8 = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));

/** Resize interleaved 8-bit pixels (`channels` per pixel) to outWidth x outHeight. */
export function resizeBicubic(src: Uint8Array, width: number, height: number, channels: number, outWidth: number, outHeight: number): Uint8Array {
  const h = taps(width, outWidth);
  const mid = new Uint8Array(outWidth * height * channels);
  for (let y = 0; y < height; y++) {
    for (let xx = 0; xx < outWidth; xx++) {
      const base = xx * h.width;
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (let k = 0; k < h.count[xx]!; k++) sum += src[(y * width + h.first[xx]! + k) * channels + c]! * h.weights[base + k]!;
        mid[(y * outWidth + xx) * channels + c] = clip8(sum);
      }
    }
  }
  const v = taps(height, outHeight);
  const out = new Uint8Array(outWidth * outHeight * channels);
  for (let yy = 0; yy < outHeight; yy++) {
    const base = yy * v.width;
    for (let x = 0; x < outWidth; x++) {
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (let k = 0; k < v.count[yy]!; k++) sum += mid[((v.first[yy]! + k) * outWidth + x) * channels + c]! * v.weights[base + k]!;
        out[(yy * outWidth + x) * channels + c] = clip8(sum);
      }
    }
  }
  return out;
}
