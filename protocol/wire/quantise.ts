/**
 * Asymmetric uint8 quantisation of bottleneck tokens, as the seed does it:
 *   scale = (max - min) / 255, zeroPoint = -min / scale (a float, not rounded),
 *   q = clip(round(x / scale + zeroPoint), 0, 255), x' = (q - zeroPoint) * scale.
 * Both parameters are rounded to float32 before use, because that is what the
 * frame carries: encoder and decoder then compute with identical numbers and
 * the error stays within scale/2 (plus float32 rounding of the parameters).
 *
 * `per-token` keeps one (scale, zeroPoint) per token row. Each row's range lies
 * inside the tensor's range, so its scale, and with it the error bound, is
 * never larger than the per-tensor one; it costs 8 bytes per token.
 *
 * A constant range (max = min, or a range too small for a float32 scale) gets
 * scale 1 and zeroPoint -min: every value maps to q = 0 and back to min exactly,
 * with no division by zero.
 */
import { QuantiseError } from './errors.ts';

export type QuantisationScheme = 'per-tensor' | 'per-token';

export interface QuantParams {
  /** One entry per tensor (per-tensor) or per token row (per-token). */
  scales: Float32Array;
  zeroPoints: Float32Array;
}

export interface QuantisedTokens {
  scheme: QuantisationScheme;
  count: number;
  width: number;
  params: QuantParams;
  data: Uint8Array;
}

export function quantise(values: Float32Array, count: number, width: number, scheme: QuantisationScheme): QuantisedTokens {
  if (!Number.isInteger(count) || !Number.isInteger(width) || count <= 0 || width <= 0) {
    throw new QuantiseError(`token shape must be positive integers, got ${count}x${width}`);
  }
  if (values.length !== count * width) {
    throw new QuantiseError(`expected ${count}x${width} = ${count * width} values, got ${values.length}`);
  }
  const groups = scheme === 'per-token' ? count : 1;
  const groupSize = values.length / groups;
  const scales = new Float32Array(groups);
  const zeroPoints = new Float32Array(groups);
  const data = new Uint8Array(values.length);
  for (let g = 0; g < groups; g++) {
    const start = g * groupSize;
    const end = start + groupSize;
    let min = Infinity;
    let max = -Infinity;
    for (let i = start; i < end; i++) {
      const v = values[i]!;
      if (!Number.isFinite(v)) throw new QuantiseError(`token value ${i} is ${v}; tokens must be finite`);
      if (v < min) min = v;
      if (v > max) max = v;
    }
    let scale = Math.fround((max - min) / 255);
    if (!(scale > 0) || !Number.isFinite(scale)) scale = 1;
    const zeroPoint = Math.fround(-min / scale);
    scales[g] = scale;
    zeroPoints[g] = zeroPoint;
    for (let i = start; i < end; i++) {
      const q = Math.round(values[i]! / scale + zeroPoint);
      data[i] = q < 0 ? 0 : Math.min(q, 255);
    }
  }
  return { scheme, count, width, params: { scales, zeroPoints }, data };
}

export function dequantise(tokens: QuantisedTokens): Float32Array {
  const { data, params, scheme, count } = tokens;
  const out = new Float32Array(data.length);
  const groupSize = scheme === 'per-token' ? data.length / count : data.length;
  for (let i = 0; i < data.length; i++) {
    const g = scheme === 'per-token' ? Math.floor(i / groupSize) : 0;
    out[i] = (data[i]! - params.zeroPoints[g]!) * params.scales[g]!;
  }
  return out;
}

/**
 * The largest |x - dequantise(quantise(x))| the scheme allows for one group:
 * half a step, plus the float32 rounding of the zero point (|zp| ulp) and of
 * the reconstructed value.
 */
export function quantisationErrorBound(scale: number, zeroPoint: number, maxAbsValue: number): number {
  const f32Epsilon = 2 ** -23;
  return scale * (0.5 + f32Epsilon * (Math.abs(zeroPoint) + 256)) + f32Epsilon * maxAbsValue;
}
