// JPEG frames take Qwen's whole vision tower: the pixel patches must be laid
// out as Qwen's image processor lays them out, and the tower must answer.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { answerOne } from '../../cloud/answer/answerer.ts';
import { AnswererError } from '../../cloud/answer/errors.ts';
import { LocalAnswerer } from '../../cloud/answer/local-answerer.ts';
import { openQwenFolder } from '../../cloud/answer/qwen-folder.ts';
import { findVisionEncoder, pixelPatches, type EncoderDescription } from '../../cloud/answer/qwen-pixels.ts';
import { loadModel } from '../../protocol/manifest/load.ts';
import type { Manifest } from '../../protocol/manifest/schema.ts';
import { FRAMES_DIR, TINY_MODEL_DIR, TINY_QWEN_DIR } from '../helpers/paths.ts';

let encoder: EncoderDescription;
before(async () => {
  encoder = await findVisionEncoder(await openQwenFolder(TINY_QWEN_DIR), [1, 16, 16]);
});

describe('pixel patches', () => {
  it('follow the processor: 2x2 merge blocks in raster order, columns (channel, time, y, x), normalised with CLIP statistics', () => {
    // Each pixel's red value is its patch column, green its patch row, blue its y within the patch.
    const rgb = new Uint8Array(224 * 224 * 3);
    for (let y = 0; y < 224; y++) {
      for (let x = 0; x < 224; x++) rgb.set([Math.floor(x / 14), Math.floor(y / 14), y % 14], (y * 224 + x) * 3);
    }
    const patches = pixelPatches(rgb, encoder);
    assert.equal(patches.length, 256 * 1176);
    const value = (row: number, column: number) => patches[row * 1176 + column]!;
    const normalised = (v: number, c: number) => (v / 255 - encoder.imageMean[c]!) / encoder.imageStd[c]!;
    // Rows 0..3: patches (row 0, col 0), (0, 1), (1, 0), (1, 1); row 4 starts the next block: (0, 2); row 32: (2, 0).
    const expected: Array<[number, number, number]> = [
      [0, 0, 0],
      [1, 0, 1],
      [2, 1, 0],
      [3, 1, 1],
      [4, 0, 2],
      [32, 2, 0],
      [255, 15, 15],
    ];
    for (const [row, patchRow, patchCol] of expected) {
      assert.ok(Math.abs(value(row, 0) - normalised(patchCol, 0)) < 1e-6, `row ${row} red`);
      assert.ok(Math.abs(value(row, 392) - normalised(patchRow, 1)) < 1e-6, `row ${row} green`); // channel 1 starts at 2*14*14
    }
    // The still image is repeated over the two temporal slices: column 196 (time 1) equals column 0.
    assert.equal(value(5, 196), value(5, 0));
    // Blue holds y within the patch: column 784 + 14*y + x is channel 2, time 0, row y.
    for (const y of [0, 6, 13]) assert.ok(Math.abs(value(9, 784 + 14 * y + 3) - normalised(y, 2)) < 1e-6, `blue row ${y}`);
  });

  it('refuse an image of the wrong size', () => {
    assert.throws(
      () => pixelPatches(new Uint8Array(10), encoder),
      (e: unknown) => e instanceof AnswererError && e.code === 'bad-shape',
    );
  });
});

describe('JPEG frames through the local answerer', () => {
  let answerer: LocalAnswerer;
  let manifest: Manifest;
  before(async () => {
    manifest = (await loadModel(TINY_MODEL_DIR, ['cloud'])).manifest;
    answerer = await LocalAnswerer.open({ qwen: TINY_QWEN_DIR, device: 'cpu', dtype: 'fp32', maxPromptTokens: 128, maxNewTokens: 6, stopTokens: ['<|im_end|>'] });
  });
  after(() => answerer.close());

  it('answers deterministically, and a corrupt JPEG fails alone without failing its batch', { timeout: 120_000 }, async () => {
    const jpeg = async (name: string) =>
      Uint8Array.from(
        await sharp(readFileSync(join(FRAMES_DIR, name)))
          .resize(224, 224)
          .jpeg({ quality: 85 })
          .toBuffer(),
      );
    const [coffee, horse] = [await jpeg('coffee.png'), await jpeg('horse.png')];
    const first = await answerOne(answerer, { jpeg: coffee, manifest, prompt: 'What is it?' });
    const again = await answerOne(answerer, { jpeg: coffee, manifest, prompt: 'What is it?' });
    assert.equal(first.text, again.text);
    assert.ok(first.tokens > 0 && first.timings.tailMs > 0);
    const results = await answerer.answerAll([
      { jpeg: horse, manifest, prompt: 'What is it?' },
      { jpeg: Uint8Array.of(0xff, 0xd8, 0xff, 0xe0, 1, 2, 3), manifest, prompt: 'What is it?' },
      { jpeg: coffee, manifest, prompt: 'What is it?' },
    ]);
    assert.equal(results[0]!.status, 'fulfilled');
    assert.equal(results[1]!.status, 'rejected');
    const error = (results[1] as PromiseRejectedResult).reason;
    assert.ok(error instanceof AnswererError && error.code === 'bad-image', String(error));
    assert.equal((results[2] as PromiseFulfilledResult<{ text: string }>).value.text, first.text);
  });
});
