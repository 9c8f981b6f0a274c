/** Per link and method: median and p95 latency, bytes per frame, and for auto the share of JPEG frames. */
import type { FrameRecord } from './link-table.ts';
import type { MethodName } from './methods.ts';

export interface CellSummary {
  link: string;
  method: MethodName;
  frames: number;
  medianMs: number;
  p95Ms: number;
  payloadBytes: number;
  wireUpBytes: number;
  wireDownBytes: number;
  /** auto: fraction of frames it sent as JPEG. */
  jpegShare?: number;
}

export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  // Nearest rank: a value that was measured, never an interpolation between two.
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;

export function summarise(frames: readonly FrameRecord[]): CellSummary[] {
  const cells = new Map<string, FrameRecord[]>();
  for (const frame of frames) {
    const key = `${frame.link}\u0000${frame.method}`;
    cells.set(key, [...(cells.get(key) ?? []), frame]);
  }
  return [...cells.values()].map((cell) => {
    const latencies = cell.map((f) => f.latencyMs);
    return {
      link: cell[0]!.link,
      method: cell[0]!.method,
      frames: cell.length,
      medianMs: quantile(latencies, 0.5),
      p95Ms: quantile(latencies, 0.95),
      payloadBytes: Math.round(mean(cell.map((f) => f.payloadBytes))),
      wireUpBytes: Math.round(mean(cell.map((f) => f.wireUpBytes))),
      wireDownBytes: Math.round(mean(cell.map((f) => f.wireDownBytes))),
      ...(cell[0]!.method === 'auto' && { jpegShare: cell.filter((f) => f.kind === 'jpeg').length / cell.length }),
    };
  });
}

/**
 * auto's median against the best fixed method's median on the same link (1.00 = as good): among the
 * codecs the daemon can send (`among`, the ones auto chooses from), and among every method measured.
 */
export function autoAgainstBest(
  cells: readonly CellSummary[],
  among: readonly MethodName[],
): Array<{ link: string; best: MethodName; bestMs: number; bestOverall: MethodName; bestOverallMs: number; autoMs: number; ratio: number; ratioOverall: number }> {
  const links = [...new Set(cells.map((c) => c.link))];
  return links.flatMap((link) => {
    const row = cells.filter((c) => c.link === link);
    const auto = row.find((c) => c.method === 'auto');
    const byMedian = row.filter((c) => c.method !== 'auto').sort((a, b) => a.medianMs - b.medianMs);
    const best = byMedian.find((c) => among.includes(c.method));
    const overall = byMedian[0];
    if (!auto || !best || !overall) return [];
    return [
      {
        link,
        best: best.method,
        bestMs: best.medianMs,
        bestOverall: overall.method,
        bestOverallMs: overall.medianMs,
        autoMs: auto.medianMs,
        ratio: auto.medianMs / best.medianMs,
        ratioOverall: auto.medianMs / overall.medianMs,
      },
    ];
  });
}
