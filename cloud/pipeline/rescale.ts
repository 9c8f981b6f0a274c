/**
 * The seed's inference-time rescale: each sample's predicted features are
 * standardised over the whole tensor, then given the target layer's fixed
 * statistics (manifest target.rescale). The standard deviation is the sample
 * one (n - 1), as torch.Tensor.std computes it.
 */
export function rescaleToTarget(values: Float32Array, target: { mean: number; std: number }): Float32Array {
  const n = values.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i]!;
  const mean = sum / n;
  let squares = 0;
  for (let i = 0; i < n; i++) squares += (values[i]! - mean) ** 2;
  const std = n > 1 ? Math.sqrt(squares / (n - 1)) : 0;
  const out = new Float32Array(n);
  if (!(std > 0)) return out.fill(target.mean); // a constant prediction carries no structure to keep
  const gain = target.std / std;
  for (let i = 0; i < n; i++) out[i] = (values[i]! - mean) * gain + target.mean;
  return out;
}
