// The bench report's fidelity section: shown only when models/fidelity.py
// results sit in the results folder, with their numbers; a file that is not
// one is refused by name rather than rendered as an empty table.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { writeReport, type BenchResults } from '../../bench/report/write-report.ts';

const dir = mkdtempSync(join(tmpdir(), 'splitoculo-fidelity-report-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const results: BenchResults = {
  startedAt: '2026-11-30T08:00:00Z',
  seconds: 1,
  mode: 'quick',
  command: 'test',
  machine: { cpu: 'test', cores: 2, memoryGiB: 1, kernel: 'x', node: 'x' },
  models: { splitoculo: 'models/tiny', modelId: '0'.repeat(32), qwen: [] },
  linkKind: 'relay',
  profiles: [],
  rounds: 0,
  samples: [],
  frames: [],
  stages: [],
  queue: null,
};
const stat = (mean: number, min: number) => ({ mean, min, max: 1 });
const fidelity = {
  format: 'splitoculo-fidelity',
  formatVersion: 1,
  label: 'tiny, quant-noise ste',
  splitLayer: 4,
  images: 'test/fixtures/frames',
  jpegQuality: null,
  summary: {
    featureCosine: stat(0.8123, 0.702),
    featureCosineQuantised: stat(0.8121, 0.7),
    featureCosineDeployed: stat(0.8, 0.69),
    mergedCosine: stat(0.95, 0.9),
    mergedRelativeError: stat(0.3, 0.2),
    answerAgreement: { agree: 4, of: 9 },
    firstTokenAgreement: { agree: 6, of: 9 },
  },
  perImage: [],
};

it('no fidelity results, no section', async () => {
  await writeReport(results, dir);
  assert.doesNotMatch(readFileSync(join(dir, 'report.md'), 'utf8'), /Fidelity/);
});

it('a fidelity result becomes a row with its means, worst cases and answer agreement', async () => {
  writeFileSync(join(dir, 'fidelity-tiny.json'), JSON.stringify(fidelity));
  await writeReport(results, dir);
  const report = readFileSync(join(dir, 'report.md'), 'utf8');
  assert.match(report, /## Fidelity on held-out images/);
  assert.match(report, /\| tiny, quant-noise ste \| 4 \| `test\/fixtures\/frames` \| 0\.8123 \(0\.702\) \| 0\.8121 \(0\.700\) \| 0\.8000 \(0\.690\) \| 0\.9500 \(0\.900\) \| 4\/9 \| 6\/9 \| {2}\|/);
});

it('a file that is not a fidelity result is refused by name', async () => {
  writeFileSync(join(dir, 'fidelity-broken.json'), JSON.stringify({ ...fidelity, summary: {} }));
  await assert.rejects(writeReport(results, dir), /fidelity-broken\.json: not a models\/fidelity\.py result/);
});
