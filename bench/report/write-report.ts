/** results.json -> report.md + latency.png + stages.png in the results folder. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FrameRecord } from '../e2e/link-table.ts';
import { METHODS, type MethodName } from '../e2e/methods.ts';
import { autoAgainstBest, summarise, type CellSummary } from '../e2e/summary.ts';
import type { LinkProfile } from '../link/profiles.ts';
import type { QueueResult } from '../queue/queue-scale.ts';
import type { StageCost } from '../stages/paired.ts';
import { fidelitySection } from './fidelity-section.ts';
import { barChartSvg, lineChartSvg, writePng } from './svg-plot.ts';

export interface BenchResults {
  startedAt: string;
  seconds: number;
  mode: 'full' | 'quick';
  command: string;
  machine: Record<string, string | number>;
  models: { splitoculo: string; modelId: string; qwen: string[] };
  linkKind: string;
  profiles: LinkProfile[];
  rounds: number;
  samples: string[];
  frames: FrameRecord[];
  stages: StageCost[];
  queue: QueueResult | null;
}

const SEED: Record<string, Partial<Record<MethodName, number>>> = {
  'BLE-low': { neural: 211.8, raw: 3437.2, 'jpeg-q85': 321.5, 'jpeg-q95': 510.1 },
  BLE: { neural: 234.9, raw: 1753.2, 'jpeg-q85': 233.8, 'jpeg-q95': 303.7 },
  '3G': { neural: 203.4, raw: 913.1, 'jpeg-q85': 168.5, 'jpeg-q95': 178.4 },
  '4G': { neural: 167.5, raw: 285.0, 'jpeg-q85': 91.8, 'jpeg-q95': 77.5 },
  LAN: { neural: 156.4, raw: 81.5, 'jpeg-q85': 42.4, 'jpeg-q95': 52.0 },
};

const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
const kb = (bytes: number) => `${(bytes / 1000).toFixed(1)} KB`;
/** Where LAN sits on the bandwidth axis: the seed's 125,000 KB/s. */
const LAN_X = 125_000;

function linkLabel(p: LinkProfile): string {
  return p.bytesPerSecond ? `${p.name} (${p.bytesPerSecond / 1000} KB/s, ${p.rttMs} ms)` : `${p.name} (unshaped)`;
}

function cellOf(cells: readonly CellSummary[], link: string, method: MethodName): CellSummary | undefined {
  return cells.find((c) => c.link === link && c.method === method);
}

export async function writeReport(results: BenchResults, dir: string): Promise<void> {
  writeFileSync(join(dir, 'results.json'), `${JSON.stringify(results, null, 1)}\n`);
  const cells = summarise(results.frames);
  const methods = METHODS.filter((x) => cells.some((c) => c.method === x.name));
  const lines = header(results);
  if (results.frames.length > 0) {
    lines.push(...linkTables(results, cells, methods));
    await writePng(latencyChart(results, cells, methods), join(dir, 'latency.png'));
    lines.push('', '![latency against bandwidth](latency.png)');
  }
  if (results.stages.length > 0) {
    lines.push(...stageTable(results.stages));
    const rows = results.stages
      .filter((s) => !s.reference.startsWith('bare session.run,'))
      .map((s) => ({
        label: `${s.side}: ${s.stage}`.slice(0, 58),
        value: Math.max(s.medianMs, 1e-3),
        note: `${s.medianMs.toPrecision(3)} ms (${s.ratio.toPrecision(2)}x)`,
        group: s.side,
      }));
    await writePng(barChartSvg('Stage costs (median ms, ratio to its reference)', 'ms (log)', rows), join(dir, 'stages.png'));
    lines.push('', '![stage costs](stages.png)');
  }
  if (results.queue) lines.push(...queueSection(results.queue));
  lines.push(...fidelitySection(dir));
  lines.push(
    '',
    '## What this does not model',
    '',
    '- The round trip is added in user space (this kernel has no netem): TCP sees a short round trip, so slow start and congestion windows of a real long link are not reproduced; the rate is enforced on real packets by tbf.',
    '- No packet loss (netem again); a lossy link would hurt the large methods most.',
    '- One board, one frame at a time; the cloud side only decodes (the models after that are in the stage costs).',
    '',
  );
  writeFileSync(join(dir, 'report.md'), lines.join('\n'));
}

function header(results: BenchResults): string[] {
  const m = results.machine;
  const links =
    results.frames.length === 0
      ? 'not measured in this run'
      : results.linkKind === 'netns+tbf'
        ? 'the edge daemon in its own network namespace, tbf on both ends of its veth (the rate, each way), the round trip added by a delay relay in front of the broker; bytes from the veth counters (Ethernet, IP, TCP, MQTT)'
        : 'a userspace relay on loopback (rate and delay); bytes are the MQTT bytes it carried (TCP/IP headers not seen)';
  return [
    `# SplitOculo benchmark (${results.mode})`,
    '',
    `Run ${results.startedAt}, ${Math.round(results.seconds)} s, \`${results.command}\`.`,
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node.js ${m.node}. Shared and noisy: compare within one run.`,
    `Models: SplitOculo \`${results.models.splitoculo}\` (${results.models.modelId}); Qwen vision: ${results.models.qwen.map((q) => `\`${q}\``).join(', ') || 'none'}.`,
    `Links: ${links}.`,
  ];
}

function linkTables(results: BenchResults, cells: readonly CellSummary[], methods: typeof METHODS): string[] {
  const lines = [
    '',
    '## Latency by link and method',
    '',
    `Capture (the edge stamps the frame) to the cloud holding the decoded frame (tokens dequantised, JPEG or raw file decoded to pixels, the seed's JSON parsed and dequantised), median / p95 in ms; ${results.rounds} round(s) of ${results.samples.length} sample(s) per cell, methods alternated, each frame alone on the link; the first frame of each block is a warm-up and not counted.`,
    '',
    `| link | ${methods.map((x) => x.title).join(' | ')} |`,
    `| --- | ${methods.map(() => '---:').join(' | ')} |`,
  ];
  for (const p of results.profiles) {
    lines.push(
      `| ${linkLabel(p)} | ${methods
        .map((x) => {
          const c = cellOf(cells, p.name, x.name);
          return c ? `${ms(c.medianMs)} / ${ms(c.p95Ms)}` : '';
        })
        .join(' | ')} |`,
    );
  }
  lines.push(
    '',
    '## Bytes per frame',
    '',
    'Payload (the MQTT message body) and, in brackets, everything on the wire towards the broker / back (headers, PUBACK, TCP acknowledgements, pings), mean per frame.',
    '',
    `| link | ${methods.map((x) => x.title).join(' | ')} |`,
    `| --- | ${methods.map(() => '---:').join(' | ')} |`,
  );
  for (const p of results.profiles) {
    lines.push(
      `| ${p.name} | ${methods
        .map((x) => {
          const c = cellOf(cells, p.name, x.name);
          return c ? `${kb(c.payloadBytes)} (${kb(c.wireUpBytes)} / ${kb(c.wireDownBytes)})` : '';
        })
        .join(' | ')} |`,
    );
  }
  const auto = autoAgainstBest(cells, ['neural', 'jpeg-q85', 'jpeg-q95']);
  if (auto.length > 0) {
    lines.push(
      '',
      '## codec: auto against the best fixed method',
      '',
      "Ratio of medians; the goal is at most 1.05. auto chooses between the daemon's codecs (neural and JPEG at its quality, 85 here), so its yardstick is the best of neural, JPEG Q85 and Q95; the raw file and the seed's JSON are not daemon codecs (the raw file skips the edge's decode and resize, which is why it can win on a fast link) and are shown as the second ratio.",
      '',
      '| link | best daemon codec | its median ms | auto median ms | ratio | best of all methods | ratio | auto frames sent as JPEG |',
      '| --- | --- | ---: | ---: | ---: | --- | ---: | ---: |',
    );
    for (const row of auto) {
      const share = cellOf(cells, row.link, 'auto')?.jpegShare ?? 0;
      lines.push(
        `| ${row.link} | ${row.best} | ${ms(row.bestMs)} | ${ms(row.autoMs)} | ${row.ratio.toFixed(2)} | ${row.bestOverall} (${ms(row.bestOverallMs)}) | ${row.ratioOverall.toFixed(2)} | ${(share * 100).toFixed(0)}% |`,
      );
    }
  }
  lines.push(
    '',
    "## The seed's table, for comparison",
    '',
    'The seed slept size/bandwidth after the request had arrived (no link, no round trips, no TCP), on a Rock 5B Plus CPU in Python: comparable in shape, not number for number.',
    '',
    '| link | neural | raw | JPEG Q85 | JPEG Q95 |',
    '| --- | ---: | ---: | ---: | ---: |',
  );
  for (const [link, row] of Object.entries(SEED)) lines.push(`| ${link} | ${row.neural} | ${row.raw} | ${row['jpeg-q85']} | ${row['jpeg-q95']} |`);
  return lines;
}

function latencyChart(results: BenchResults, cells: readonly CellSummary[], methods: typeof METHODS): string {
  const xOf = (p: LinkProfile) => (p.bytesPerSecond ?? LAN_X * 1000) / 1000;
  const series = methods.map((x) => ({
    name: x.title,
    points: results.profiles.flatMap((p) => {
      const c = cellOf(cells, p.name, x.name);
      return c ? [{ x: xOf(p), y: Math.max(1, c.medianMs) }] : [];
    }),
  }));
  const labels = new Map(results.profiles.map((p) => [xOf(p), p.bytesPerSecond ? `${p.name} ${p.bytesPerSecond / 1000}` : 'LAN']));
  return lineChartSvg('Capture to decoded frame in the cloud (median)', 'link bandwidth, KB/s (log)', 'ms (log)', series, labels);
}

function stageTable(stages: readonly StageCost[]): string[] {
  const lines = [
    '',
    '## Stage costs',
    '',
    'Median ms of each stage and its median ratio to a reference timed right before it, pair by pair, in the same run.',
    '',
    '| side | stage | median ms | reference | reference ms | ratio | pairs |',
    '| --- | --- | ---: | --- | ---: | ---: | ---: |',
  ];
  for (const s of stages) {
    lines.push(`| ${s.side} | ${s.stage}${s.note ? ` (${s.note})` : ''} | ${s.medianMs.toPrecision(3)} | ${s.reference} | ${s.referenceMs.toPrecision(3)} | ${s.ratio.toPrecision(3)} | ${s.pairs} |`);
  }
  return lines;
}

function queueSection(q: QueueResult): string[] {
  const lines = [
    '',
    '## Queue at scale',
    '',
    `- ${q.frames.toLocaleString('en')} frames of ${q.frameBytes} bytes committed offline in ${q.fillSeconds.toFixed(1)} s (${Math.round(q.fillFramesPerSecond)} frames/s, synchronous NORMAL).`,
    `- Database: ${(q.databaseBytes / 1e6).toFixed(1)} MB, ${Math.round(q.bytesPerFrame)} bytes per frame (${(q.bytesPerFrame / q.frameBytes).toFixed(2)}x the frame).`,
    `- Start to "running" with the full queue: ${q.startFullMs.toFixed(0)} ms, with an empty one ${q.startEmptyMs.toFixed(0)} ms (median): ${q.startRatio.toFixed(2)}x.`,
  ];
  for (const d of q.drains) {
    lines.push(
      `- Drain over ${d.link}: ${d.framesPerSecond.toFixed(1)} frames/s, ${(d.payloadBytesPerSecond / 1000).toFixed(1)} KB/s of frames${d.linkUse !== null ? `, ${(d.linkUse * 100).toFixed(0)}% of the link's ${d.linkBytesPerSecond! / 1000} KB/s` : ''}.`,
    );
  }
  return lines;
}
