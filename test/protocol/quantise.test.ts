import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { QuantiseError } from '../../protocol/wire/errors.ts';
import { dequantise, quantise, quantisationErrorBound, type QuantisedTokens } from '../../protocol/wire/quantise.ts';
import { seededTokens } from '../helpers/frames.ts';

function maxErrorPerGroup(values: Float32Array, q: QuantisedTokens): number[] {
  const restored = dequantise(q);
  const groups = q.params.scales.length;
  const size = values.length / groups;
  return Array.from({ length: groups }, (_, g) => {
    let worst = 0;
    for (let i = g * size; i < (g + 1) * size; i++) worst = Math.max(worst, Math.abs(values[i]! - restored[i]!));
    return worst;
  });
}

function assertWithinBound(values: Float32Array, q: QuantisedTokens): void {
  const errors = maxErrorPerGroup(values, q);
  const size = values.length / errors.length;
  errors.forEach((error, g) => {
    const maxAbs = Math.max(...Array.from(values.subarray(g * size, (g + 1) * size), Math.abs));
    const bound = quantisationErrorBound(q.params.scales[g]!, q.params.zeroPoints[g]!, maxAbs);
    assert.ok(error <= bound, `group ${g}: error ${error} exceeds bound ${bound}`);
  });
}

describe('quantisation', () => {
  it("matches the seed's per-tensor formula", () => {
    const values = Float32Array.of(-1, 0, 0.5, 3);
    const q = quantise(values, 1, 4, 'per-tensor');
    const scale = Math.fround(4 / 255);
    assert.equal(q.params.scales[0], scale);
    assert.equal(q.params.zeroPoints[0], Math.fround(1 / scale));
    assert.deepEqual(Array.from(q.data), [0, Math.round(1 / scale), Math.round(1.5 / scale), 255]);
  });

  it('stays within the analytic error bound (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 1, max: 32 }),
        fc.constantFrom('per-tensor' as const, 'per-token' as const),
        fc.float({ min: -1e4, max: 1e4, noNaN: true }),
        fc.float({ min: Math.fround(1e-6), max: 1e3, noNaN: true }),
        fc.integer(),
        (count, width, scheme, offset, spread, seed) => {
          const values = seededTokens(count, width, seed).map((v) => Math.fround(offset + v * spread));
          assertWithinBound(values, quantise(values, count, width, scheme));
        },
      ),
      { seed: 11, numRuns: 500 },
    );
  });

  it('per-token error bound is never worse than per-tensor (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 49 }), fc.integer({ min: 1, max: 64 }), fc.integer(), (count, width, seed) => {
        // Rows of very different ranges, where per-token quantisation pays off.
        const values = seededTokens(count, width, seed).map((v, i) => v * (1 + (Math.floor(i / width) % 5) * 10));
        const tensorScale = quantise(values, count, width, 'per-tensor').params.scales[0]!;
        const perToken = quantise(values, count, width, 'per-token');
        perToken.params.scales.forEach((scale, row) => {
          const rowValues = values.subarray(row * width, (row + 1) * width);
          if (Math.max(...rowValues) === Math.min(...rowValues)) return; // constant rows restore exactly
          assert.ok(scale <= tensorScale, `token ${row} scale ${scale} > tensor scale ${tensorScale}`);
        });
        const worst = Math.max(...maxErrorPerGroup(values, perToken));
        assert.ok(worst <= tensorScale / 2 + 1e-5, `per-token error ${worst} > half a per-tensor step ${tensorScale / 2}`);
      }),
      { seed: 12, numRuns: 200 },
    );
  });

  it('quantises constant tensors without dividing by zero', () => {
    for (const value of [0, 1.5, -7.25, 3e38]) {
      const values = new Float32Array(49 * 64).fill(value);
      for (const scheme of ['per-tensor', 'per-token'] as const) {
        const q = quantise(values, 49, 64, scheme);
        assert.ok(Array.from(q.params.scales).every((s) => s > 0 && Number.isFinite(s)));
        assert.deepEqual(Array.from(new Set(dequantise(q))), [Math.fround(value)]);
      }
    }
  });

  it('refuses NaN, Infinity and a wrong length', () => {
    assert.throws(() => quantise(Float32Array.of(1, Number.NaN), 1, 2, 'per-tensor'), QuantiseError);
    assert.throws(() => quantise(Float32Array.of(1, Infinity), 1, 2, 'per-token'), QuantiseError);
    assert.throws(() => quantise(Float32Array.of(1, 2, 3), 1, 2, 'per-tensor'), /expected 1x2 = 2 values, got 3/);
  });
});
