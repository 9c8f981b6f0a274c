// The worker's check that a Qwen vision tail fits a SplitOculo model: split layer, its convention (the seed's
// count: features after L blocks), grid and widths. A tail exported before the convention was stated ran one
// block fewer than a seed checkpoint needs, so it is refused by name with the command that re-exports it.
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AnswererError } from '../../cloud/answer/errors.ts';
import { findTail, openQwenFolder } from '../../cloud/answer/qwen-folder.ts';
import { loadModel } from '../../protocol/manifest/load.ts';
import type { Manifest } from '../../protocol/manifest/schema.ts';
import { TINY_MODEL_DIR, TINY_QWEN_DIR } from '../helpers/paths.ts';

const SIDECAR = 'vision_tail.L4.1x16x16.json';

describe('vision tail description', () => {
  let dir: string;
  let manifest: Manifest;
  let committed: Record<string, unknown>;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'splitoculo-qwen-folder-'));
    await mkdir(join(dir, 'onnx'));
    await copyFile(join(TINY_QWEN_DIR, 'config.json'), join(dir, 'config.json'));
    manifest = (await loadModel(TINY_MODEL_DIR, [])).manifest;
    committed = JSON.parse(await readFile(join(TINY_QWEN_DIR, 'onnx', SIDECAR), 'utf8'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  async function findWith(sidecar: Record<string, unknown>, model: Manifest = manifest) {
    await writeFile(join(dir, 'onnx', SIDECAR), JSON.stringify(sidecar));
    return findTail(await openQwenFolder(dir), model);
  }

  function rejectsWith(code: string, pattern: RegExp) {
    return (e: unknown) => {
      assert.ok(e instanceof AnswererError, `expected AnswererError, got ${String(e)}`);
      assert.equal(e.code, code, e.message);
      assert.match(e.message, pattern);
      return true;
    };
  }

  it('accepts the committed tail: the tiny model at L = 4 resumes at block 4', async () => {
    assert.equal(committed.splitLayerConvention, 'after-L-blocks');
    assert.equal(committed.firstBlock, 4);
    const tail = await findWith(committed);
    assert.equal(tail.splitLayer, 4);
    assert.equal(tail.featureWidth, 64);
    assert.match(tail.path, /vision_tail\.L4\.1x16x16\.onnx$/);
  });

  it('refuses a tail exported before the convention, naming the command that re-exports it', async () => {
    const { splitLayerConvention: _c, featureWidth: _w, firstBlock: _f, patchEmbedding: _p, ...old } = committed;
    await assert.rejects(
      findWith({ ...old, formatVersion: 1 }),
      rejectsWith(
        'model-files',
        /vision_tail\.L4\.1x16x16\.json: no splitLayerConvention: an older tail that resumes one block later .*run models\/qwen\.py tail --qwen .* --split-layer 4 --grid 1 16 16$/,
      ),
    );
  });

  it('refuses a tail whose input width is not what the model predicts', async () => {
    // L = -1: the tail embeds pixel patches (1176 values a patch); a model predicting 64-wide features cannot feed it.
    const pixels = { ...committed, splitLayer: -1, firstBlock: 0, patchEmbedding: true, featureWidth: 1176 };
    const atMinusOne = { ...manifest, splitLayer: -1 };
    await writeFile(join(dir, 'onnx', 'vision_tail.L-1.1x16x16.json'), JSON.stringify(pixels));
    await assert.rejects(findTail(await openQwenFolder(dir), atMinusOne), rejectsWith('model-mismatch', /featureWidth 1176 \(model target: 64\)/));
    await assert.rejects(findWith({ ...committed, splitLayer: 3 }), rejectsWith('model-mismatch', /splitLayer 3 \(model: 4\)/));
  });
});
