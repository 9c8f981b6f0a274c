// The two commands as a user runs them: real child processes.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CLOUD_BIN as CLOUD, EDGE_BIN as EDGE, cli } from '../helpers/cli.ts';
import { FRAMES_DIR, REPO_ROOT } from '../helpers/paths.ts';

describe('splitoculo-edge encode / splitoculo-cloud decode', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'splitoculo-cli-'));
  after(() => rm(dir, { recursive: true, force: true }));

  it('encodes a sample into a frame file and reports size, timings and model', async () => {
    const out = join(dir, 'coffee.frame');
    const result = await cli(EDGE, ['encode', join(FRAMES_DIR, 'coffee.png'), '--device', 'cam-0123456789ab', '--out', out, '--json']);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.equal(report.bytes, 3231);
    assert.equal((await stat(out)).size, 3231);
    assert.match(report.modelId, /^[0-9a-f]{32}$/);
    for (const key of ['preprocessMs', 'encodeMs', 'quantiseMs']) assert.ok(report.timings[key] >= 0, key);

    const decoded = await cli(CLOUD, ['decode', out, '--model', join(REPO_ROOT, 'models', 'tiny'), '--json']);
    assert.equal(decoded.code, 0, decoded.stderr);
    const header = JSON.parse(decoded.stdout);
    assert.equal(header.deviceId, 'cam-0123456789ab');
    assert.equal(header.frameId, report.frameId);
    assert.deepEqual(header.features.shape, [256, 64]);
    const manifest = JSON.parse(await readFile(join(REPO_ROOT, 'models', 'tiny', 'manifest.json'), 'utf8'));
    assert.ok(Math.abs(header.features.mean - manifest.target.rescale.mean) < 1e-3, "rescaled to the target mean (the manifest's)");
  });

  it("encodes with every codec through the daemon's path: jpeg carries the crop, auto without a link goes neural, a key signs", async () => {
    const neural = await cli(EDGE, ['encode', join(FRAMES_DIR, 'coffee.png'), '--device', 'cam-0123456789ab', '--json']);
    assert.equal(neural.code, 0, neural.stderr);
    assert.equal(JSON.parse(neural.stdout).codec, 'neural');

    const out = join(dir, 'coffee-jpeg.frame');
    const jpeg = await cli(EDGE, ['encode', join(FRAMES_DIR, 'coffee.png'), '--device', 'cam-0123456789ab', '--codec', 'jpeg', '--jpeg-quality', '70', '--out', out, '--json']);
    assert.equal(jpeg.code, 0, jpeg.stderr);
    const report = JSON.parse(jpeg.stdout);
    assert.equal(report.codec, 'jpeg');
    assert.equal(report.timings.quantiseMs, 0);
    assert.equal((await stat(out)).size, report.bytes);
    const decoded = await cli(CLOUD, ['decode', out, '--json']);
    assert.equal(decoded.code, 0, decoded.stderr);
    const header = JSON.parse(decoded.stdout);
    assert.equal(header.codec, 'jpeg');
    assert.equal(header.frameId, report.frameId);
    assert.deepEqual([header.image.width, header.image.height], [224, 224]);
    const better = await cli(EDGE, ['encode', join(FRAMES_DIR, 'coffee.png'), '--device', 'cam-0123456789ab', '--codec', 'jpeg', '--jpeg-quality', '95', '--json']);
    assert.ok(JSON.parse(better.stdout).bytes > report.bytes, '--jpeg-quality reaches the encoder');

    const auto = await cli(EDGE, ['encode', join(FRAMES_DIR, 'coffee.png'), '--device', 'cam-0123456789ab', '--codec', 'auto', '--json']);
    assert.equal(auto.code, 0, auto.stderr);
    assert.equal(JSON.parse(auto.stdout).codec, 'neural');
    assert.equal(JSON.parse(auto.stdout).bytes, JSON.parse(neural.stdout).bytes);

    const keyFile = join(dir, 'device.key');
    await writeFile(keyFile, `${'ab'.repeat(32)}\n`, { mode: 0o600 });
    const signed = await cli(EDGE, ['encode', join(FRAMES_DIR, 'coffee.png'), '--device', 'cam-0123456789ab', '--codec', 'jpeg', '--jpeg-quality', '70', '--key-file', keyFile, '--json']);
    assert.equal(signed.code, 0, signed.stderr);
    assert.equal(JSON.parse(signed.stdout).signed, true);
    assert.equal(JSON.parse(signed.stdout).bytes, report.bytes + 32, 'the tag, 32 bytes');

    const bad = await cli(EDGE, ['encode', join(FRAMES_DIR, 'coffee.png'), '--codec', 'png']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--codec <codec>' argument 'png' is invalid\. expected neural, jpeg, auto/);
  });

  it('exits 1 with one line naming a corrupt image, a corrupt frame, a missing model', async () => {
    const image = await cli(EDGE, ['encode', join(FRAMES_DIR, 'truncated.jpg')]);
    assert.equal(image.code, 1);
    assert.match(image.stderr, /^splitoculo-edge: error: .*truncated\.jpg: not a decodable image/);
    assert.equal(image.stderr.trim().split('\n').length, 1);

    const frame = join(dir, 'coffee.frame');
    const bytes = await readFile(frame);
    const cut = join(dir, 'cut.frame');
    await writeFile(cut, bytes.subarray(0, 500));
    const truncated = await cli(CLOUD, ['decode', cut]);
    assert.equal(truncated.code, 1);
    assert.match(truncated.stderr, /^splitoculo-cloud: error: \S*cut\.frame: frame payload: needs 3136 bytes/);

    const model = await cli(EDGE, ['encode', join(FRAMES_DIR, 'coffee.png'), '--model', join(dir, 'no-model')]);
    assert.equal(model.code, 1);
    assert.match(model.stderr, /no-model\/manifest\.json: cannot read the model manifest \(ENOENT\)/);
  });

  it('exits 2 on a bad option value and names the option', async () => {
    const result = await cli(EDGE, ['encode', 'x.png', '--quantisation', 'per-pixel']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--quantisation <scheme>' argument 'per-pixel' is invalid\. expected per-tensor or per-token/);
    const device = await cli(EDGE, ['encode', join(FRAMES_DIR, 'coffee.png'), '--device', 'a/b']);
    assert.equal(device.code, 1);
    assert.match(device.stderr, /--device: .*no '\+', '#', '\/'/);
  });
});
