// First module of the single binary: extract the embedded native addons
// (once per content) and register them before any addon package loads.
//
// Then, once, the allocator settings: glibc reads its malloc tunables only at
// process start, so a binary started by hand (not by the unit, which sets them
// in Environment=) executes itself again with them set, same pid, same
// arguments. The same re-execution drops the pages of the embedded files that
// a first start's extraction read (64 MB resident for the rest of the run,
// measured). Under qemu-user (QEMU_* in the environment, as
// cross-build/qemu/run-arm64.sh runs it) it does not: execve of the guest
// binary fails there without binfmt, and Node aborts on a failed execve, so
// nothing can be tried and caught.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { cacheRoot, extractOnce, installNativeAddons } from '../runtime/native-addons.ts';
import { embeddedAsset } from '../runtime/sea.ts';

declare const __SPLITOCULO_NATIVE_KEY__: string;
declare const __SPLITOCULO_NATIVE_FILES__: string[];

/**
 * One malloc arena per two threads at most instead of eight per core, and
 * blocks of 64 KiB or more (decoded frames, tensors) mapped and unmapped
 * instead of kept in the heap: about 30 MB less resident memory at 10
 * frames/s (bench/footprint). The unit file sets the same values.
 */
export const MALLOC_ENV = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '65536' } as const;

const key = `native-${__SPLITOCULO_NATIVE_KEY__}`;
const extracting = !existsSync(join(cacheRoot(), key));
const dir = extractOnce(cacheRoot(), key, function* () {
  for (const path of __SPLITOCULO_NATIVE_FILES__) yield [path, embeddedAsset(`native/${path}`)];
});
const unset = Object.keys(MALLOC_ENV).some((name) => process.env[name] === undefined);
const emulated = Object.keys(process.env).some((name) => name.startsWith('QEMU_'));
if ((unset || extracting) && !emulated && process.env.__SPLITOCULO_REEXEC === undefined && typeof process.execve === 'function') {
  // A single binary's argv is [binary, binary, ...arguments].
  process.execve(process.execPath, [process.argv0, ...process.argv.slice(2)], { ...MALLOC_ENV, ...process.env, __SPLITOCULO_REEXEC: '1' });
}
delete process.env.__SPLITOCULO_REEXEC; // children (another SplitOculo binary) make their own choice
installNativeAddons(dir);
