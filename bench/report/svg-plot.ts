/**
 * Two small chart kinds, drawn as SVG and rendered to PNG by sharp (librsvg):
 * no plotting stack to install, nothing fetched. Log axes, because the links
 * span three orders of magnitude and so do the stage costs.
 */
import sharp from 'sharp';

export interface Series {
  name: string;
  points: Array<{ x: number; y: number }>;
}

const COLOURS = ['#1f77b4', '#d62728', '#ff7f0e', '#7f7f7f', '#9467bd', '#2ca02c', '#8c564b'];
const FONT = 'font-family="DejaVu Sans, sans-serif"';

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let decade = Math.floor(Math.log10(min)); decade <= Math.ceil(Math.log10(max)); decade++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** decade;
      if (v >= min * 0.999 && v <= max * 1.001) ticks.push(v);
    }
  }
  return ticks;
}

function format(v: number): string {
  return v >= 1000 ? `${v / 1000}k` : String(v);
}

/** Lines with markers on log-log axes; `xLabels` names special x positions (e.g. LAN). */
export function lineChartSvg(title: string, xTitle: string, yTitle: string, series: readonly Series[], xLabels: ReadonlyMap<number, string>): string {
  const W = 900,
    H = 520,
    left = 80,
    right = 230,
    top = 50,
    bottom = 75;
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.map((p) => p.y));
  const [x0, x1] = [Math.min(...xs) / 1.3, Math.max(...xs) * 1.3];
  const [y0, y1] = [10 ** Math.floor(Math.log10(Math.min(...ys))), 10 ** Math.ceil(Math.log10(Math.max(...ys)))];
  const px = (x: number) => left + ((Math.log10(x) - Math.log10(x0)) / (Math.log10(x1) - Math.log10(x0))) * (W - left - right);
  const py = (y: number) => H - bottom - ((Math.log10(y) - Math.log10(y0)) / (Math.log10(y1) - Math.log10(y0))) * (H - top - bottom);
  const parts: string[] = [`<rect width="${W}" height="${H}" fill="white"/>`, `<text x="${W / 2}" y="28" ${FONT} font-size="18" text-anchor="middle">${escapeXml(title)}</text>`];
  for (const y of logTicks(y0, y1)) {
    parts.push(
      `<line x1="${left}" x2="${W - right}" y1="${py(y)}" y2="${py(y)}" stroke="#e4e4e4"/>`,
      `<text x="${left - 8}" y="${py(y) + 4}" ${FONT} font-size="12" text-anchor="end">${format(y)}</text>`,
    );
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    // Two lines (name, then rate): neighbouring links sit close together on a log axis.
    const [name, ...rest] = (xLabels.get(x) ?? format(x)).split(' ');
    parts.push(
      `<line x1="${px(x)}" x2="${px(x)}" y1="${top}" y2="${H - bottom}" stroke="#e4e4e4"/>`,
      `<text x="${px(x)}" y="${H - bottom + 16}" ${FONT} font-size="12" text-anchor="middle">${escapeXml(name!)}</text>`,
      `<text x="${px(x)}" y="${H - bottom + 30}" ${FONT} font-size="11" text-anchor="middle" fill="#555">${escapeXml(rest.join(' '))}</text>`,
    );
  }
  parts.push(
    `<rect x="${left}" y="${top}" width="${W - left - right}" height="${H - top - bottom}" fill="none" stroke="#333"/>`,
    `<text x="${(left + W - right) / 2}" y="${H - 14}" ${FONT} font-size="14" text-anchor="middle">${escapeXml(xTitle)}</text>`,
    `<text transform="translate(22 ${(top + H - bottom) / 2}) rotate(-90)" ${FONT} font-size="14" text-anchor="middle">${escapeXml(yTitle)}</text>`,
  );
  series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const points = [...s.points].sort((a, b) => a.x - b.x);
    parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points.map((p) => `${px(p.x)},${py(p.y)}`).join(' ')}"/>`);
    for (const p of points) parts.push(`<circle cx="${px(p.x)}" cy="${py(p.y)}" r="4" fill="${colour}"/>`);
    const ly = top + 10 + i * 22;
    parts.push(
      `<line x1="${W - right + 15}" x2="${W - right + 40}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="3"/>`,
      `<text x="${W - right + 46}" y="${ly + 4}" ${FONT} font-size="13">${escapeXml(s.name)}</text>`,
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">${parts.join('')}</svg>`;
}

/** Horizontal bars on a log axis, one per row, with a label at the end of each. */
export function barChartSvg(title: string, xTitle: string, rows: ReadonlyArray<{ label: string; value: number; note: string; group: string }>): string {
  const W = 980,
    left = 380,
    right = 150,
    top = 50,
    bar = 22,
    gap = 8;
  const H = top + rows.length * (bar + gap) + 60;
  const values = rows.map((r) => r.value);
  const [x0, x1] = [10 ** Math.floor(Math.log10(Math.min(...values))), 10 ** Math.ceil(Math.log10(Math.max(...values)))];
  const px = (x: number) => left + ((Math.log10(x) - Math.log10(x0)) / (Math.log10(x1) - Math.log10(x0))) * (W - left - right);
  const groups = [...new Set(rows.map((r) => r.group))];
  const parts: string[] = [`<rect width="${W}" height="${H}" fill="white"/>`, `<text x="${W / 2}" y="28" ${FONT} font-size="18" text-anchor="middle">${escapeXml(title)}</text>`];
  for (const x of logTicks(x0, x1)) {
    parts.push(
      `<line x1="${px(x)}" x2="${px(x)}" y1="${top - 5}" y2="${H - 50}" stroke="#e4e4e4"/>`,
      `<text x="${px(x)}" y="${H - 34}" ${FONT} font-size="12" text-anchor="middle">${x < 1 ? x.toPrecision(1) : format(x)}</text>`,
    );
  }
  rows.forEach((r, i) => {
    const y = top + i * (bar + gap);
    const colour = COLOURS[groups.indexOf(r.group) % COLOURS.length];
    parts.push(
      `<text x="${left - 8}" y="${y + bar / 2 + 4}" ${FONT} font-size="12" text-anchor="end">${escapeXml(r.label)}</text>`,
      `<rect x="${left}" y="${y}" width="${Math.max(1, px(r.value) - left)}" height="${bar}" fill="${colour}"/>`,
      `<text x="${px(r.value) + 6}" y="${y + bar / 2 + 4}" ${FONT} font-size="12">${escapeXml(r.note)}</text>`,
    );
  });
  parts.push(`<text x="${(left + W - right) / 2}" y="${H - 12}" ${FONT} font-size="14" text-anchor="middle">${escapeXml(xTitle)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}">${parts.join('')}</svg>`;
}

export async function writePng(svg: string, path: string): Promise<void> {
  await sharp(Buffer.from(svg)).png().toFile(path);
}
