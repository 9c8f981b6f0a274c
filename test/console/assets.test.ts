// The console page is bundled into the program as a generated module: it must
// match the asset files it was generated from (run `node cloud/console/assets/bundle.ts`).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { GENERATED, generatedSource } from '../../cloud/console/assets/bundle.ts';
import { ASSETS } from '../../cloud/console/assets.generated.ts';
import { REPO_ROOT } from '../helpers/paths.ts';

it('cloud/console/assets.generated.ts is up to date with cloud/console/assets/', () => {
  assert.equal(readFileSync(GENERATED, 'utf8'), generatedSource(), 'stale: run node cloud/console/assets/bundle.ts');
});

it('the page loads nothing from elsewhere and never writes HTML from data', () => {
  assert.deepEqual(Object.keys(ASSETS).sort(), ['app.css', 'app.js', 'index.html', 'login.html']);
  for (const [name, asset] of Object.entries(ASSETS)) assert.doesNotMatch(asset.body, /(src|href)="https?:/, `${name} references another origin`);
  const script = ASSETS['app.js']!.body;
  assert.doesNotMatch(script, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/, 'device strings reach the page as text only');
});

it('the bundle the single binary is made from carries the page (esbuild, as cross-build/build.ts bundles the cloud bin)', async () => {
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [join(REPO_ROOT, 'cloud', 'bin', 'splitoculo-cloud.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    minifyWhitespace: true,
    packages: 'external',
    write: false,
    logLevel: 'silent',
  });
  const bundle = result.outputFiles[0]!.text;
  for (const [name, asset] of Object.entries(ASSETS)) {
    assert.ok(bundle.includes(asset.etag.slice(1, -1)), `${name}'s etag is in the bundle`);
    const sample = asset.body.match(/[A-Za-z0-9 ,.()-]{30,}/)![0]; // plain text, written the same however the bundler quotes the string
    assert.ok(bundle.includes(sample), `${name}'s text is in the bundle (${sample})`);
  }
  assert.ok(bundle.includes('SplitOculo console'));
});
