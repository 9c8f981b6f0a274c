// The port of Pillow's resampling (daemon/pipeline/bicubic.ts): the SIMD kernels
// give the JS port's bytes, computing only
// the crop window gives the crop of the whole resize, channels are independent,
// flat stays flat, bilinear manifests match PIL's BILINEAR at every pixel too,
// and bad buffers or windows are refused before anything is allocated.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { resamplePillow, resamplePillowJs, taps, type ResampleFilter } from '../../daemon/pipeline/bicubic.ts';
import { simdAvailable } from '../../daemon/pipeline/resample-simd.ts';
import { cropToRgb } from '../../daemon/pipeline/preprocess.ts';
import type { Manifest } from '../../protocol/manifest/schema.ts';
import { REPO_ROOT } from '../helpers/paths.ts';

/** Deterministic noise with hard edges: a kernel's worst case. */
function noise(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let s = seed >>> 0;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s >>> 24) & 1 ? 255 : s >>> 24;
  }
  return out;
}

function crop(full: Uint8Array, fullWidth: number, channels: number, left: number, top: number, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * fullWidth + left) * channels;
    out.set(full.subarray(from, from + width * channels), y * width * channels);
  }
  return out;
}

const CASES: Array<[number, number, number, number]> = [
  [600, 450, 298, 224], // 2.0x
  [701, 333, 471, 224], // odd ratio, 1.49x
  [1411, 1000, 316, 224], // 4.5x
  [150, 100, 336, 224], // enlargement
  [224, 301, 224, 301], // unchanged
  [224, 900, 224, 224], // width unchanged: vertical pass only
];

describe('resamplePillow', () => {
  for (const filter of ['bicubic', 'bilinear'] as ResampleFilter[]) {
    for (const [w, h, ow, oh] of CASES) {
      it(`${filter} ${w}x${h} -> ${ow}x${oh}: the window equals the crop of the whole resize, for 1, 3 and 4 channels`, () => {
        for (const channels of [1, 3, 4]) {
          const src = noise(w * h * channels, w + h + channels);
          const full = resamplePillow(src, w, h, channels, ow, oh, filter);
          assert.equal(full.length, ow * oh * channels);
          const win = { left: Math.floor((ow - Math.min(ow, 224)) / 2), top: Math.floor((oh - Math.min(oh, 224)) / 2), width: Math.min(ow, 224), height: Math.min(oh, 224) };
          const windowed = resamplePillow(src, w, h, channels, ow, oh, filter, win);
          assert.deepEqual(windowed, crop(full, ow, channels, win.left, win.top, win.width, win.height));
          if (channels === 3) {
            // Channel c of an RGB resize is the resize of channel c alone.
            for (let c = 0; c < 3; c++) {
              const plane = src.filter((_, i) => i % 3 === c);
              const alone = resamplePillow(plane, w, h, 1, ow, oh, filter);
              assert.deepEqual(
                alone,
                full.filter((_, i) => i % 3 === c),
              );
            }
          }
        }
      });
    }
  }

  it('runs RGB through the WebAssembly SIMD kernels, byte for byte the JS port, at any ratio and window', () => {
    assert.ok(simdAvailable, 'Node 24 has WebAssembly SIMD');
    let seed = 7;
    const next = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    for (let round = 0; round < 60; round++) {
      const w = 1 + next(900);
      const h = 1 + next(700);
      const ow = 1 + next(round % 3 === 0 ? 2 * w : w);
      const oh = 1 + next(round % 4 === 0 ? 2 * h : h);
      const win = { left: next(ow), top: next(oh), width: 0, height: 0 };
      win.width = 1 + next(ow - win.left);
      win.height = 1 + next(oh - win.top);
      const filter: ResampleFilter = round % 2 ? 'bilinear' : 'bicubic';
      const src = noise(w * h * 3, round);
      const label = `${w}x${h} -> ${ow}x${oh}, window ${win.width}x${win.height}+${win.left}+${win.top}, ${filter}`;
      assert.deepEqual(resamplePillow(src, w, h, 3, ow, oh, filter, win), resamplePillowJs(src, w, h, 3, ow, oh, filter, win), label);
    }
    for (const [w, h, ow, oh] of CASES) {
      const src = noise(w * h * 3, w);
      assert.deepEqual(resamplePillow(src, w, h, 3, ow, oh), resamplePillowJs(src, w, h, 3, ow, oh), `${w}x${h} -> ${ow}x${oh}`);
    }
  });

  it('keeps a flat image flat at any ratio (fixed-point weights sum to one)', () => {
    for (const [w, h, ow, oh] of [
      [1400, 1050, 298, 224],
      [173, 97, 224, 125],
      [999, 224, 225, 224],
    ] as const) {
      for (const value of [0, 1, 128, 254, 255]) {
        const out = resamplePillow(new Uint8Array(w * h * 3).fill(value), w, h, 3, ow, oh);
        assert.ok(
          out.every((v) => v === value),
          `${w}x${h} -> ${ow}x${oh}, value ${value}`,
        );
      }
    }
  });

  it('stretches the support with the reduction factor, as Pillow does', () => {
    const down = taps(1411, 224, 'bicubic'); // 6.3x: support 2 * 6.3 on each side
    assert.equal(down.stride, Math.ceil(2 * (1411 / 224)) * 2 + 1);
    assert.ok(Math.max(...down.count) >= 25);
    const up = taps(100, 224, 'bicubic');
    assert.equal(up.stride, 5);
    for (let i = 0; i < 224; i++) {
      let sum = 0;
      for (let k = 0; k < up.count[i]!; k++) sum += up.weights[i * up.stride + k]!;
      assert.ok(Math.abs(sum - (1 << 22)) <= up.count[i]!, `row ${i}: weights sum to ${sum}`);
    }
  });

  it('refuses a buffer of the wrong length or a window outside the output', () => {
    assert.throws(() => resamplePillow(new Uint8Array(10), 4, 4, 3, 2, 2), RangeError);
    assert.throws(() => resamplePillow(new Uint8Array(48), 4, 4, 3, 2, 2, 'bicubic', { left: 1, top: 0, width: 2, height: 2 }), RangeError);
    assert.throws(() => resamplePillow(new Uint8Array(48), 4, 4, 3, 2, 2, 'bicubic', { left: 0, top: 0, width: 0, height: 2 }), RangeError);
  });
});

describe('bilinear manifests: PIL BILINEAR at every pixel', () => {
  const work = mkdtempSync(join(tmpdir(), 'splitoculo-bilinear-'));
  after(() => rmSync(work, { recursive: true, force: true }));
  const fixture = join(REPO_ROOT, 'test', 'fixtures', 'pil_preprocess.py');
  const synthetic = join(work, 'synthetic');
  mkdirSync(synthetic);
  const names = execFileSync('/usr/bin/python3', [fixture, '--make', synthetic], { encoding: 'utf8' }).trim().split('\n');
  execFileSync('/usr/bin/python3', [fixture, '--bilinear', work, ...names.map((n) => join(synthetic, n))]);
  const pre: Manifest['preprocess'] = {
    colorSpace: 'srgb',
    resize: { shortSide: 224, kernel: 'bilinear' },
    crop: { mode: 'center', width: 224, height: 224 },
    scale: 1 / 255,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    layout: 'nchw',
  };
  for (const name of names) {
    it(name, async () => {
      const reference = readFileSync(join(work, `${name}.rgb`));
      const { rgb } = await cropToRgb(join(synthetic, name), pre, name);
      let worst = 0;
      for (let i = 0; i < rgb.length; i++) worst = Math.max(worst, Math.abs(rgb[i]! - reference[i]!));
      assert.ok(worst <= 1, `${name}: worst pixel ${worst} grey levels off`);
    });
  }
});
