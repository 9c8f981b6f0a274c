/**
 * Timing on a shared, noisy machine: each stage is timed right after its
 * reference, pair by pair, and reported as the median of the per-pair ratios
 * (drift between pairs cancels) next to both medians in milliseconds.
 */
import { quantile } from '../e2e/summary.ts';

export interface StageCost {
  side: 'edge' | 'cloud';
  stage: string;
  reference: string;
  medianMs: number;
  referenceMs: number;
  /** Median of stage/reference over the pairs. */
  ratio: number;
  pairs: number;
  note?: string;
}

export async function time(run: () => unknown): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

export async function paired(
  side: StageCost['side'],
  stage: string,
  reference: string,
  pairs: number,
  runReference: (i: number) => unknown,
  runStage: (i: number) => unknown,
  note?: string,
): Promise<StageCost> {
  await runReference(0); // warm-up: first runs allocate
  await runStage(0);
  const stageMs: number[] = [];
  const referenceMs: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const r = await time(() => runReference(i));
    const s = await time(() => runStage(i));
    referenceMs.push(r);
    stageMs.push(s);
    ratios.push(s / r);
  }
  return { side, stage, reference, medianMs: quantile(stageMs, 0.5), referenceMs: quantile(referenceMs, 0.5), ratio: quantile(ratios, 0.5), pairs, ...(note && { note }) };
}
