import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile, appendFile, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadModel, ManifestError, PRE_CONVENTION_MESSAGE } from '../../protocol/manifest/load.ts';
import { computeModelId } from '../../protocol/manifest/model-id.ts';
import { TINY_MODEL_DIR } from '../helpers/paths.ts';

describe('model manifest', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'splitoculo-manifest-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  async function copyTiny(): Promise<string> {
    const target = await mkdtemp(join(dir, 'model-'));
    for (const name of ['manifest.json', 'edge.onnx', 'cloud.onnx']) await copyFile(join(TINY_MODEL_DIR, name), join(target, name));
    return target;
  }

  it('loads the committed tiny model and verifies its files', async () => {
    const model = await loadModel(TINY_MODEL_DIR, ['edge', 'cloud']);
    assert.equal(model.manifest.tokens.count, 49);
    assert.equal(model.manifest.tokens.width, 64);
    const hashes = { edge: model.manifest.files.edge!.sha256, cloud: model.manifest.files.cloud!.sha256 };
    assert.equal(model.manifest.modelId, computeModelId(model.manifest.splitLayer, hashes));
    assert.match(model.paths.edge!, /edge\.onnx$/);
    // The split layer is counted as the seed counts it, and the manifest says so.
    assert.equal(model.manifest.splitLayer, 4);
    assert.equal(model.manifest.splitLayerConvention, 'after-L-blocks');
  });

  it('refuses a manifest written before the split layer convention, saying what changed and how to re-export', async () => {
    const target = await copyTiny();
    const path = join(target, 'manifest.json');
    const { splitLayerConvention: _dropped, ...old } = JSON.parse(await readFile(path, 'utf8'));
    await writeFile(path, JSON.stringify(old));
    await assert.rejects(loadModel(target, ['cloud']), (e: unknown) => {
      assert.ok(e instanceof ManifestError);
      assert.equal(e.message, `${path}: ${PRE_CONVENTION_MESSAGE}`);
      assert.match(e.message, /no splitLayerConvention: .*features after L vision blocks.*re-export with models\/export\.py --split-layer/);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
    await writeFile(path, JSON.stringify({ ...old, splitLayerConvention: 'output-of-block-L' }));
    await assert.rejects(loadModel(target, []), /manifest\.json: splitLayerConvention: .*after-L-blocks/);
  });

  it('takes split layers -1..32 (blocks run) and nothing outside', async () => {
    const target = await copyTiny();
    const path = join(target, 'manifest.json');
    const manifest = JSON.parse(await readFile(path, 'utf8'));
    const hashes = { edge: manifest.files.edge.sha256, cloud: manifest.files.cloud.sha256 };
    for (const splitLayer of [-1, 0, 32]) {
      await writeFile(path, JSON.stringify({ ...manifest, splitLayer, modelId: computeModelId(splitLayer, hashes) }));
      assert.equal((await loadModel(target, [])).manifest.splitLayer, splitLayer);
    }
    for (const splitLayer of [-2, 33]) {
      await writeFile(path, JSON.stringify({ ...manifest, splitLayer, modelId: computeModelId(splitLayer, hashes) }));
      await assert.rejects(loadModel(target, []), /manifest\.json: splitLayer: /);
    }
  });

  it('names a file whose hash does not match', async () => {
    const target = await copyTiny();
    const edge = join(target, 'edge.onnx');
    const bytes = await readFile(edge);
    bytes[bytes.length - 1]! ^= 0xff;
    await writeFile(edge, bytes);
    await assert.rejects(loadModel(target, ['edge']), (e: unknown) => e instanceof ManifestError && e.message.includes(edge) && /SHA-256 is [0-9a-f]{64}, the manifest expects/.test(e.message));
    // The cloud side does not run edge.onnx and need not read it.
    await loadModel(target, ['cloud']);
  });

  it('names a missing or resized file', async () => {
    const target = await copyTiny();
    await appendFile(join(target, 'cloud.onnx'), 'x');
    await assert.rejects(loadModel(target, ['cloud']), /cloud\.onnx: \d+ bytes, the manifest expects \d+/);
    await unlink(join(target, 'edge.onnx'));
    await assert.rejects(loadModel(target, ['edge']), /edge\.onnx: model file missing \(ENOENT\)/);
  });

  it('refuses a model id that does not match the hashes, and schema errors by path', async () => {
    const target = await copyTiny();
    const path = join(target, 'manifest.json');
    const manifest = JSON.parse(await readFile(path, 'utf8'));
    await writeFile(path, JSON.stringify({ ...manifest, splitLayer: 8 }));
    await assert.rejects(loadModel(target, []), /modelId is [0-9a-f]{32}, but its split layer and file hashes give [0-9a-f]{32}/);
    await writeFile(path, JSON.stringify({ ...manifest, tokens: { count: 49, width: -1 } }));
    await assert.rejects(loadModel(target, []), /manifest\.json: tokens\.width: /);
    await writeFile(path, '{not json');
    await assert.rejects(loadModel(target, []), /manifest\.json: not JSON/);
    await assert.rejects(loadModel(join(target, 'nowhere'), []), /cannot read the model manifest \(ENOENT\)/);
  });
});
