/** Agreement of two float tensors: the figures export parity and round-trip tests report. */
export interface TensorComparison {
  maxAbsError: number;
  meanAbsError: number;
  cosine: number;
}

export function compareTensors(actual: ArrayLike<number>, expected: ArrayLike<number>): TensorComparison {
  if (actual.length !== expected.length) {
    throw new RangeError(`tensor lengths differ: ${actual.length} vs ${expected.length}`);
  }
  let maxAbs = 0;
  let sumAbs = 0;
  let dot = 0;
  let normA = 0;
  let normE = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const diff = Math.abs(a - e);
    if (diff > maxAbs || Number.isNaN(diff)) maxAbs = diff;
    sumAbs += diff;
    dot += a * e;
    normA += a * a;
    normE += e * e;
  }
  const denominator = Math.sqrt(normA) * Math.sqrt(normE);
  // Two all-zero tensors agree exactly; one zero tensor against another does not.
  const cosine = denominator === 0 ? (normA === normE ? 1 : 0) : dot / denominator;
  return { maxAbsError: maxAbs, meanAbsError: actual.length ? sumAbs / actual.length : 0, cosine };
}
