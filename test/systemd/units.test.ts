// The unit files pass systemd's own checks: `systemd-analyze verify` in a
// root that holds the unit, the standard targets and the real program, and
// an exposure score from `systemd-analyze security --offline`.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { REPO_ROOT } from '../helpers/paths.ts';

const UNITS: Array<{ unit: string; program: string }> = [
  { unit: 'splitoculo-edge.service', program: join(REPO_ROOT, 'daemon', 'bin', 'splitoculo-edge.ts') },
  { unit: 'splitoculo-cloud.service', program: join(REPO_ROOT, 'cloud', 'bin', 'splitoculo-cloud.ts') },
];
const root = mkdtempSync(join(tmpdir(), 'splitoculo-units-'));
after(() => rmSync(root, { recursive: true, force: true }));

function buildRoot(): void {
  const system = join(root, 'usr', 'lib', 'systemd', 'system');
  mkdirSync(system, { recursive: true });
  mkdirSync(join(root, 'usr', 'bin'), { recursive: true });
  for (const name of readdirSync('/usr/lib/systemd/system')) {
    if (/\.(target|slice)$/.test(name)) copyFileSync(join('/usr/lib/systemd/system', name), join(system, name));
  }
  for (const { unit, program } of UNITS) {
    copyFileSync(join(REPO_ROOT, 'systemd', unit), join(system, unit));
    // A source-tree install's launcher (systemd resolves symlinks inside --root, so no link out).
    const launcher = join(root, 'usr', 'bin', unit.replace('.service', ''));
    writeFileSync(launcher, `#!/bin/sh\nexec ${process.execPath} ${program} "$@"\n`, { mode: 0o755 });
  }
}

describe('systemd units', () => {
  buildRoot();
  for (const { unit } of UNITS) {
    it(`${unit} passes systemd-analyze verify`, () => {
      const result = spawnSync('systemd-analyze', ['verify', `--root=${root}`, unit], { cwd: root, encoding: 'utf8' });
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stderr.trim(), '', result.stderr);
    });

    it(`${unit} has an exposure level of at most 2.5`, () => {
      const out = execFileSync('systemd-analyze', ['security', '--offline=yes', `--root=${root}`, unit], { cwd: root, encoding: 'utf8' });
      const score = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(out)?.[1]);
      assert.ok(score <= 2.5, `exposure ${score}`);
      console.log(`# ${unit}: exposure ${score}`);
    });
  }
});
