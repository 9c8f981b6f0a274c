// The bench's quick mode, so the full run by hand cannot rot: every method on
// every quick link, the stage costs, the queue at scale, the report and its
// plots; and the numbers keep the relations physics imposes.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { BenchResults } from '../../bench/report/write-report.ts';
import { summarise } from '../../bench/e2e/summary.ts';
import type { FootprintResults } from '../../bench/footprint/footprint.ts';
import { REPO_ROOT } from '../helpers/paths.ts';

const out = mkdtempSync(join(tmpdir(), 'splitoculo-bench-test-'));
after(() => rmSync(out, { recursive: true, force: true }));

describe('bench --quick', () => {
  it('measures every method on the shaped links, the stages and the queue, and writes the report', { timeout: 240_000 }, () => {
    execFileSync(process.execPath, [join(REPO_ROOT, 'bench/run.ts'), '--quick', '--out', out], { stdio: ['ignore', 'inherit', 'inherit'] });
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as BenchResults;
    const cells = summarise(results.frames);
    const cell = (link: string, method: string) => {
      const found = cells.find((c) => c.link === link && c.method === method);
      assert.ok(found, `${link} ${method} measured`);
      return found;
    };
    for (const link of ['BLE-low', 'LAN']) {
      for (const method of ['neural', 'jpeg-q85', 'jpeg-q95', 'raw', 'seed-json', 'auto']) {
        const c = cell(link, method);
        assert.equal(c.frames, 2);
        assert.ok(c.medianMs > 0 && c.p95Ms >= c.medianMs, `${link} ${method}: ${c.medianMs} / ${c.p95Ms}`);
        assert.ok(c.wireUpBytes >= c.payloadBytes, `${link} ${method}: the wire carries at least the payload`);
      }
      // Sizes: the wire frame is the smallest, the seed's base64 JSON a third larger, JPEG larger still.
      assert.ok(cell(link, 'neural').payloadBytes < cell(link, 'seed-json').payloadBytes);
      assert.ok(cell(link, 'seed-json').payloadBytes < cell(link, 'jpeg-q85').payloadBytes);
      assert.ok(cell(link, 'jpeg-q85').payloadBytes < cell(link, 'jpeg-q95').payloadBytes);
      assert.ok(cell(link, 'jpeg-q95').payloadBytes < cell(link, 'raw').payloadBytes);
    }
    // 62.5 KB/s: the raw files (17 and 43 KB) take hundreds of ms on the wire, the 3 KB frame about 50.
    assert.ok(cell('BLE-low', 'raw').medianMs > cell('BLE-low', 'neural').medianMs);
    assert.ok(cell('BLE-low', 'raw').medianMs > cell('LAN', 'raw').medianMs);
    const stageNames = results.stages.map((s) => s.stage).join('\n');
    for (const stage of [
      'decode + preprocess',
      'reduction to the crop, Pillow port',
      'encode, 1 thread',
      'encode, 2 threads',
      'quantise + pack',
      'synchronous NORMAL',
      'synchronous FULL',
      'publish to PUBACK',
      'dequantise',
      'cloud.onnx unbatched',
      'cloud.onnx in batches',
      'vision tail',
      'whole vision tower',
    ]) {
      assert.match(stageNames, new RegExp(stage.replace(/[+.]/g, '\\$&')), `stage ${stage}`);
    }
    for (const s of results.stages) assert.ok(s.medianMs > 0 && s.referenceMs > 0 && s.ratio > 0, JSON.stringify(s));
    const q = results.queue!;
    assert.equal(q.frames, 3_000);
    assert.ok(q.bytesPerFrame > q.frameBytes, 'the database holds each frame plus its row');
    assert.ok(q.drains.length === 2 && q.drains.every((d) => d.framesPerSecond > 0));
    const ble = q.drains.find((d) => d.link === 'BLE')!;
    assert.ok(ble.linkUse! > 0.2 && ble.linkUse! <= 1.05, `BLE drain uses ${ble.linkUse} of the link`);
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    for (const heading of ['## Latency by link and method', '## Bytes per frame', '## codec: auto against the best fixed method', '## Stage costs', '## Queue at scale']) {
      assert.ok(report.includes(heading), heading);
    }
    // The footprint (issue 17): memory sampled with its breakdown, the encoder against bare session.run,
    // every camera path against the one it replaced, the outbox's writes within the goal.
    const fp = JSON.parse(readFileSync(join(out, 'footprint.json'), 'utf8')) as FootprintResults;
    assert.ok(fp.memory[0]!.series.length >= 4 && fp.memory[0]!.series.every(([, mb]) => mb > 20), JSON.stringify(fp.memory[0]!.series));
    assert.ok(fp.memory[0]!.framesQueued > 0 && Object.keys(fp.memory[0]!.breakdown.groups).length > 3);
    // Each lever measured against the defaults in the same run.
    assert.equal(fp.levers.length, 3);
    assert.ok(
      fp.levers.every((l) => l.series.length > 0 && Object.keys(l.breakdown.groups).length > 3),
      JSON.stringify(fp.levers.map((l) => [l.lever, l.series])),
    );
    assert.deepEqual(
      fp.encoders.map((e) => e.thread),
      ['main', 'worker'],
    );
    assert.ok(
      fp.encoders.every((e) => e.ratio > 0 && e.referenceMs > 0),
      JSON.stringify(fp.encoders),
    );
    assert.deepEqual(
      fp.cameras.map((c) => c.camera.split(' ')[0]),
      ['MJPEG', 'NV12', 'YUYV422'],
    );
    assert.ok(
      fp.cameras.every((c) => c.ratio > 0 && c.referenceFfmpegMs > 0),
      JSON.stringify(fp.cameras),
    );
    // Queued frames have the goal (2.5x); answered ones are reported beside them (outbox-writes.test.ts bounds them).
    const queued = fp.disk.filter((d) => d.answerBytes === 0);
    assert.deepEqual(
      fp.disk.map((d) => [d.synchronous, d.answerBytes > 0]),
      [
        ['normal', false],
        ['full', false],
        ['normal', true],
      ],
    );
    for (const d of queued) assert.ok(d.syscallRatio <= 2.5, `${d.synchronous}: ${d.syscallRatio}x the frame written`);
    const answered = fp.disk.find((d) => d.answerBytes > 0)!;
    assert.ok(answered.syscallRatio > queued[0]!.syscallRatio && answered.syscallRatio <= 11, `answered: ${answered.syscallRatio}x the frame written`);
    assert.ok(readFileSync(join(out, 'footprint.md'), 'utf8').includes('## Resident memory'));
    for (const png of ['latency.png', 'stages.png']) {
      assert.deepEqual([...readFileSync(join(out, png)).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], png);
    }
  });
});
