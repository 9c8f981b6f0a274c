/**
 * Native addons in the single binary. A Node single executable cannot load
 * a `.node` file from inside itself, so the build embeds each addon (with the
 * shared libraries beside it) as an asset; the first start extracts them to
 * a content-addressed folder of the cache directory (systemd's
 * CacheDirectory=), atomically, and every start loads them from there with
 * process.dlopen. The bundler points sharp, onnxruntime-node and
 * better-sqlite3 at `globalThis.__splitoculoNative` instead of their own loaders.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** Where each addon sits inside the extracted folder (keeping sharp's relative RPATH to libvips valid). */
export const ADDON_PATHS = {
  sharp: '@img/sharp/lib/sharp.node',
  onnxruntime: 'onnxruntime/onnxruntime_binding.node',
  'better-sqlite3': 'better-sqlite3/better_sqlite3.node',
} as const;
export type AddonName = keyof typeof ADDON_PATHS;

interface NativeRegistry {
  dir: string;
  load(name: AddonName): unknown;
}

declare global {
  var __splitoculoNative: NativeRegistry | undefined;
}

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.SPLITOCULO_CACHE_DIR ?? env.CACHE_DIRECTORY?.split(':')[0] ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'splitoculo');
}

/**
 * Writes `files` (relative path -> bytes) under `<root>/<key>` unless that
 * folder exists. A temporary sibling is filled first and renamed into place,
 * so a crash or a second process never sees half a folder.
 */
export function extractOnce(root: string, key: string, files: () => Iterable<[string, Buffer]>): string {
  const target = join(root, key);
  if (existsSync(target)) return target;
  mkdirSync(root, { recursive: true });
  const temporary = join(root, `.${key}.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    for (const [path, bytes] of files()) {
      const file = join(temporary, path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, bytes, { mode: 0o755 });
    }
    try {
      renameSync(temporary, target);
    } catch (error) {
      // Another process extracted the same content first: use theirs.
      if (!existsSync(target)) throw error;
    }
  } finally {
    rmSync(temporary, { recursive: true, force: true });
  }
  return target;
}

export function installNativeAddons(dir: string): void {
  const loaded = new Map<AddonName, unknown>();
  globalThis.__splitoculoNative = {
    dir,
    load(name) {
      if (!loaded.has(name)) {
        const module = { exports: {} as unknown };
        process.dlopen(module, join(dir, ADDON_PATHS[name]));
        loaded.set(name, module.exports);
      }
      return loaded.get(name);
    },
  };
}
