/**
 * Facts fixed when the software is built. The single-binary build replaces
 * these globals (esbuild `define`); running from the source tree uses the
 * fallbacks.
 */
declare const __SPLITOCULO_BUILD_TIME__: string | undefined;
declare const __SPLITOCULO_GIT_COMMIT__: string | undefined;

/** No correct clock reads earlier than the software's own build. */
export const BUILD_TIME_MS: number = typeof __SPLITOCULO_BUILD_TIME__ === 'string' ? Date.parse(__SPLITOCULO_BUILD_TIME__) : Date.parse('2026-11-26T00:00:00Z');

export const GIT_COMMIT: string = typeof __SPLITOCULO_GIT_COMMIT__ === 'string' ? __SPLITOCULO_GIT_COMMIT__ : 'source tree';
