/** What the commands fall back to when the user names nothing. */
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { cacheRoot, extractOnce } from './native-addons.ts';
import { embeddedAsset, isSingleBinary } from './sea.ts';

declare const __SPLITOCULO_MODELS_KEY__: string | undefined;
declare const __SPLITOCULO_MODEL_FILES__: string[] | undefined;

/**
 * The tiny demo models (untrained): in the source tree, models/tiny; in the
 * single binary, extracted once from the embedded copy into the cache.
 */
export function defaultModelDir(): string {
  if (isSingleBinary() && typeof __SPLITOCULO_MODELS_KEY__ === 'string') {
    return extractOnce(cacheRoot(), `models-${__SPLITOCULO_MODELS_KEY__}`, function* () {
      for (const name of __SPLITOCULO_MODEL_FILES__ ?? []) yield [name, embeddedAsset(`models/tiny/${name}`)];
    });
  }
  return fileURLToPath(new URL('../models/tiny', import.meta.url));
}

/** The host name made into a valid device id. */
export function defaultDeviceId(): string {
  const cleaned = hostname()
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64);
  return cleaned || 'edge';
}
