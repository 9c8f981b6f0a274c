// Assertions on what a running daemon or worker counts, read from its /metrics
// endpoint (Prometheus text), instead of on the wording of its log lines.
import { waitFor } from './wait.ts';

/** The sum of the samples of `name` whose labels include `labels` (0 when none). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const own = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (Object.entries(labels).every(([key, value]) => own[key] === value)) sum += Number(match[3]);
  }
  return sum;
}

export async function scrapeMetric(port: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  return metricValue(await response.text(), name, labels);
}

/** Waits until the metric satisfies `holds` (the endpoint may not be up yet); returns its value. */
export async function waitForMetric(port: number, name: string, holds: (value: number) => boolean, options: { timeoutMs?: number; labels?: Record<string, string> } = {}): Promise<number> {
  let last = NaN;
  await waitFor(
    async () => {
      last = await scrapeMetric(port, name, options.labels).catch(() => NaN);
      return holds(last);
    },
    { what: `${name}${options.labels ? JSON.stringify(options.labels) : ''} (last ${last})`, timeoutMs: options.timeoutMs ?? 20_000, intervalMs: 50 },
  );
  return last;
}
