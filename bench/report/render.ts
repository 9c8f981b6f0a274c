/**
 * Renders report.md and the plots again from a results folder's results.json,
 * without measuring anything (after changing the report's layout).
 *   node bench/report/render.ts [bench/results]
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeReport, type BenchResults } from './write-report.ts';

const dir = resolve(process.argv[2] ?? new URL('../results', import.meta.url).pathname);
const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as BenchResults;
await writeReport(results, dir);
console.log(`rendered ${dir}/report.md`);
