// The console page is bundled into the program as a generated module: it must
// match the asset files it was generated from (run `node cloud/console/assets/bundle.ts`).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { GENERATED, generatedSource } from '../../cloud/console/assets/bundle.ts';
import { ASSETS } from '../../cloud/console/assets.generated.ts';

it('cloud/console/assets.generated.ts is up to date with cloud/console/assets/', () => {
  assert.equal(readFileSync(GENERATED, 'utf8'), generatedSource(), 'stale: run node cloud/console/assets/bundle.ts');
});

it('the page loads nothing from elsewhere and never writes HTML from data', () => {
  assert.deepEqual(Object.keys(ASSETS).sort(), ['app.css', 'app.js', 'index.html', 'login.html']);
  for (const [name, asset] of Object.entries(ASSETS)) assert.doesNotMatch(asset.body, /(src|href)="https?:/, `${name} references another origin`);
  const script = ASSETS['app.js']!.body;
  assert.doesNotMatch(script, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/, 'device strings reach the page as text only');
});
