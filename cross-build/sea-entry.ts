// First module of the single binary: extract the embedded native addons
// (once per content) and register them before any addon package loads.
import { cacheRoot, extractOnce, installNativeAddons } from '../runtime/native-addons.ts';
import { embeddedAsset } from '../runtime/sea.ts';

declare const __SPLITOCULO_NATIVE_KEY__: string;
declare const __SPLITOCULO_NATIVE_FILES__: string[];

const dir = extractOnce(cacheRoot(), `native-${__SPLITOCULO_NATIVE_KEY__}`, function* () {
  for (const path of __SPLITOCULO_NATIVE_FILES__) yield [path, embeddedAsset(`native/${path}`)];
});
installNativeAddons(dir);
