// `make binary`: one self-contained executable per target, from this x86_64
// machine, with nothing fetched but npm packages. Fails loudly, never leaves
// a half-built artifact: each artifact is written under a temporary name and
// renamed into place only when complete.
//   node cross-build/build.ts [edge-linux-x64 edge-linux-arm64]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { ADDON_PATHS } from '../runtime/native-addons.ts';
import pkg from '../package.json' with { type: 'json' };

const ROOT = new URL('..', import.meta.url).pathname;
const NODE_VERSION = '24.21.0';
const DIST = join(ROOT, 'dist');
const WORK = join(ROOT, '.cache', 'build');
const SHARP_VERSION = '0.35.5';

type Arch = 'x64' | 'arm64';
interface Target {
  name: string;
  kind: 'edge' | 'cloud';
  arch: Arch;
}
const TARGETS: Record<string, Target> = {
  'edge-linux-x64': { name: 'splitoculo-edge-linux-x64', kind: 'edge', arch: 'x64' },
  'edge-linux-arm64': { name: 'splitoculo-edge-linux-arm64', kind: 'edge', arch: 'arm64' },
  'cloud-linux-x64': { name: 'splitoculo-cloud-linux-x64', kind: 'cloud', arch: 'x64' },
};

function run(command: string, args: string[], cwd = ROOT): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 28 });
}

/** The official Node binary of the target arch, from the npm registry's node-linux-<arch> package. */
function nodeBinary(arch: Arch): string {
  const dir = join(ROOT, '.cache', `node-${NODE_VERSION}-linux-${arch}`);
  const binary = join(dir, 'bin', 'node');
  if (existsSync(binary)) return binary;
  const tgz = join(ROOT, '.cache', `node-linux-${arch}-${NODE_VERSION}.tgz`);
  if (!existsSync(tgz)) run('npm', ['pack', '--silent', `node-linux-${arch}@${NODE_VERSION}`], join(ROOT, '.cache'));
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  run('tar', ['xzf', tgz, '-C', tmp]);
  renameSync(join(tmp, 'package'), dir);
  rmSync(tmp, { recursive: true, force: true });
  return binary;
}

/** node_modules holding the target arch's sharp packages (x64: the project's own). */
function addonModules(arch: Arch): string {
  if (arch === 'x64') return join(ROOT, 'node_modules');
  const dir = join(ROOT, '.cache', `addons-${arch}`, 'node_modules');
  const libvips = JSON.parse(readFileSync(join(ROOT, 'node_modules', 'sharp', 'package.json'), 'utf8')).optionalDependencies['@img/sharp-libvips-linux-x64'];
  for (const [name, version] of [
    [`sharp-linux-${arch}`, SHARP_VERSION],
    [`sharp-libvips-linux-${arch}`, libvips],
  ] as const) {
    const target = join(dir, '@img', name);
    if (existsSync(target)) continue;
    // `npm install` refuses other-arch packages named directly; `npm pack` fetches them as they are.
    mkdirSync(join(dir, '@img'), { recursive: true });
    const tgz = run('npm', ['pack', '--silent', `@img/${name}@${version}`], join(dir, '@img'))
      .trim()
      .split('\n')
      .pop()!;
    mkdirSync(`${target}.tmp`, { recursive: true });
    run('tar', ['xzf', join(dir, '@img', tgz), '-C', `${target}.tmp`]);
    renameSync(join(`${target}.tmp`, 'package'), target);
    rmSync(`${target}.tmp`, { recursive: true, force: true });
    rmSync(join(dir, '@img', tgz));
  }
  return dir;
}

/** Native files to embed, by their path inside the extracted folder. */
function nativeFiles(arch: Arch): Map<string, string> {
  const modules = addonModules(arch);
  const sharpLib = join(modules, '@img', `sharp-linux-${arch}`, 'lib');
  const vipsLib = join(modules, '@img', `sharp-libvips-linux-${arch}`, 'lib');
  const vips = readdirNames(vipsLib).find((f) => f.startsWith('libvips-cpp.so'))!;
  const ort = join(ROOT, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'linux', arch);
  return new Map([
    [ADDON_PATHS.sharp, join(sharpLib, `sharp-linux-${arch}-${SHARP_VERSION}.node`)],
    // sharp.node's RPATH is $ORIGIN/../../sharp-libvips-linux-<arch>/lib: keep that layout.
    [`@img/sharp-libvips-linux-${arch}/lib/${vips}`, join(vipsLib, vips)],
    [ADDON_PATHS.onnxruntime, join(ort, 'onnxruntime_binding.node')],
    ['onnxruntime/libonnxruntime.so.1', join(ort, 'libonnxruntime.so.1')],
    [ADDON_PATHS['better-sqlite3'], join(ROOT, 'node_modules', 'better-sqlite3', 'prebuilds', `linux-${arch}.node`)],
  ]);
}

function readdirNames(dir: string): string[] {
  return run('ls', ['-1', dir]).trim().split('\n');
}

/** Points each addon package's loader at the registry that sea-entry.ts fills. */
const nativeShims: Plugin = {
  name: 'native-shims',
  setup(b) {
    // sharp's ESM entry resolves its addon with createRequire at run time; bundle the CJS one.
    b.onResolve({ filter: /^sharp$/ }, () => ({ path: join(ROOT, 'node_modules', 'sharp', 'dist', 'index.cjs') }));
    b.onLoad({ filter: /sharp[\\/]dist[\\/]sharp\.cjs$/ }, () => ({ contents: "module.exports = globalThis.__splitoculoNative.load('sharp');", loader: 'js' }));
    b.onLoad({ filter: /onnxruntime-node[\\/]dist[\\/]binding\.js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      const patched = source.replace(/require\(`\.\.\/bin\/napi-v\d+\/\$\{process\.platform\}\/\$\{process\.arch\}\/onnxruntime_binding\.node`\)/, "globalThis.__splitoculoNative.load('onnxruntime')");
      if (patched === source) throw new Error('onnxruntime-node: binding loader not found; update cross-build/build.ts');
      return { contents: patched, loader: 'js' };
    });
    // transformers.js loads onnxruntime-node through createRequire at run time; a plain require lets
    // esbuild bundle it (and the shim above), so both share one onnxruntime.
    b.onLoad({ filter: /@huggingface[\\/]transformers[\\/]dist[\\/]transformers\.node\.(c|m)js$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      const patched = source.replace('requireFromHere("onnxruntime-node")', 'require("onnxruntime-node")');
      if (patched === source) throw new Error('@huggingface/transformers: onnxruntime-node loader not found; update cross-build/build.ts');
      return { contents: patched, loader: 'js' };
    });
    b.onLoad({ filter: /better-sqlite3[\\/]lib[\\/]binding\.js$/ }, () => ({
      contents: "exports.getBinding = (nativeBinding) => (nativeBinding && typeof nativeBinding === 'object' ? nativeBinding : globalThis.__splitoculoNative.load('better-sqlite3'));",
      loader: 'js',
    }));
  },
};

function hashFiles(files: Iterable<string>): string {
  const hash = createHash('sha256');
  for (const file of files) hash.update(readFileSync(file));
  return hash.digest('hex').slice(0, 16);
}

async function bundle(entry: string, outfile: string, define: Record<string, string>): Promise<void> {
  await build({
    entryPoints: [join(ROOT, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    minifyWhitespace: true,
    legalComments: 'none',
    logLevel: 'warning',
    plugins: [nativeShims],
    define: { 'import.meta.url': '__splitoculoImportMetaUrl', ...define },
    banner: { js: "var __splitoculoImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  });
}

async function buildTarget(target: Target): Promise<void> {
  const work = join(WORK, target.name);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const natives = nativeFiles(target.arch);
  const models = target.kind === 'edge' ? ['manifest.json', 'edge.onnx', 'cloud.onnx'] : [];
  const commit = run('git', ['rev-parse', '--short=12', 'HEAD']).trim();
  const define = {
    __SPLITOCULO_BUILD_TIME__: JSON.stringify(new Date().toISOString()),
    __SPLITOCULO_GIT_COMMIT__: JSON.stringify(commit),
    __SPLITOCULO_NATIVE_KEY__: JSON.stringify(`${target.arch}-${hashFiles(natives.values())}`),
    __SPLITOCULO_NATIVE_FILES__: JSON.stringify([...natives.keys()]),
    __SPLITOCULO_MODELS_KEY__: JSON.stringify(models.length ? hashFiles(models.map((m) => join(ROOT, 'models', 'tiny', m))) : ''),
    __SPLITOCULO_MODEL_FILES__: JSON.stringify(models),
  };
  await bundle(`cross-build/${target.kind}-main.ts`, join(work, 'app.cjs'), define);
  const assets: Record<string, string> = {};
  for (const [path, file] of natives) assets[`native/${path}`] = file;
  for (const m of models) assets[`models/tiny/${m}`] = join(ROOT, 'models', 'tiny', m);
  if (target.kind === 'edge') {
    await bundle('cross-build/encoder-worker-main.ts', join(work, 'encoder-worker.cjs'), define);
    assets['encoder-worker.cjs'] = join(work, 'encoder-worker.cjs');
    // `splitoculo-edge init` writes this example with the camera and broker filled in.
    assets['config/example.yaml'] = join(ROOT, 'daemon', 'config', 'example.yaml');
  }
  writeFileSync(
    join(work, 'sea-config.json'),
    JSON.stringify(
      {
        main: join(work, 'app.cjs'),
        output: join(work, 'sea-prep.blob'),
        disableExperimentalSEAWarning: true,
        // A blob for another arch must not carry this machine's snapshot or code cache.
        useSnapshot: false,
        useCodeCache: false,
        assets,
        // V8 lever (bench/results/footprint.md): --optimize-for-size grows the heap less eagerly; not allowed in NODE_OPTIONS.
        execArgv: ['--max-semi-space-size=1', '--optimize-for-size'],
        execArgvExtension: 'env',
      },
      null,
      2,
    ),
  );
  // The blob must be made by exactly the Node version it is injected into.
  run(nodeBinary('x64'), ['--experimental-sea-config', join(work, 'sea-config.json')]);
  const binary = join(work, target.name);
  copyFileSync(nodeBinary(target.arch), binary);
  chmodSync(binary, 0o755);
  run(target.arch === 'x64' ? 'strip' : 'aarch64-linux-gnu-strip', ['--strip-all', binary]);
  run(join(ROOT, 'node_modules', '.bin', 'postject'), [binary, 'NODE_SEA_BLOB', join(work, 'sea-prep.blob'), '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2', '--overwrite']);
  const floor = glibcFloor([binary, ...natives.values()], target.arch);
  mkdirSync(DIST, { recursive: true });
  renameSync(binary, join(DIST, `${target.name}.partial`));
  renameSync(join(DIST, `${target.name}.partial`), join(DIST, target.name));
  console.log(`built dist/${target.name} (${pkg.version}, ${commit}); needs glibc >= ${floor}`);
  packageTarball(target, work);
}

/** The highest GLIBC_x.y symbol version any of the files needs. */
function glibcFloor(files: string[], arch: Arch): string {
  const objdump = arch === 'x64' ? 'objdump' : 'aarch64-linux-gnu-objdump';
  const versions = new Set<string>();
  for (const file of files) {
    for (const match of run(objdump, ['-T', file]).matchAll(/GLIBC_(\d+\.\d+(?:\.\d+)?)/g)) versions.add(match[1]!);
  }
  const key = (v: string) =>
    v
      .split('.')
      .map((n) => n.padStart(3, '0'))
      .join('.');
  return [...versions].sort((a, b) => key(a).localeCompare(key(b))).pop() ?? 'unknown';
}

/**
 * <name>.tar.xz: the binary, its unit file and an example config, then SHA256SUMS for everything in dist/.
 * xz -9 (a 64 MiB dictionary spans the whole binary): 61 MB as gzip -6 for the arm64 edge, which
 * overshot the 60 MB budget; Debian and Ubuntu unpack .tar.xz with plain `tar xf`.
 */
function packageTarball(target: Target, work: string): void {
  const stage = join(work, 'package', target.name);
  mkdirSync(stage, { recursive: true });
  copyFileSync(join(DIST, target.name), join(stage, `splitoculo-${target.kind}`));
  chmodSync(join(stage, `splitoculo-${target.kind}`), 0o755);
  copyFileSync(join(ROOT, 'systemd', `splitoculo-${target.kind}.service`), join(stage, `splitoculo-${target.kind}.service`));
  copyFileSync(join(ROOT, target.kind === 'edge' ? 'daemon' : 'cloud', 'config', 'example.yaml'), join(stage, `${target.kind}.example.yaml`));
  copyFileSync(join(ROOT, 'cross-build', 'install.sh'), join(stage, 'install.sh'));
  chmodSync(join(stage, 'install.sh'), 0o755);
  const tarball = join(DIST, `${target.name}.tar.xz`);
  execFileSync('tar', ['cJf', `${tarball}.partial`, '--owner=0', '--group=0', '--sort=name', '-C', join(work, 'package'), target.name], {
    env: { ...process.env, XZ_OPT: '-9 -T2' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  renameSync(`${tarball}.partial`, tarball);
  const sums = run('ls', ['-1', DIST])
    .trim()
    .split('\n')
    .filter((f) => f.startsWith('splitoculo-') && !f.endsWith('.partial'));
  writeFileSync(join(DIST, 'SHA256SUMS'), run('sha256sum', sums, DIST));
}

const wanted = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(TARGETS);
for (const name of wanted) {
  const target = TARGETS[name];
  if (!target) throw new Error(`unknown target ${name}; known: ${Object.keys(TARGETS).join(', ')}`);
  await buildTarget(target);
}
