import pkg from '../package.json' with { type: 'json' };
import { BUILD_TIME_MS, GIT_COMMIT } from './build-info.ts';

/** The package version (bundled into the single binary at build time). */
export const VERSION: string = pkg.version;

/** What `--version` prints: ours, Node's and each native addon's, as loaded. */
export async function versionReport(command: string): Promise<string> {
  const deps = pkg.dependencies as Record<string, string>;
  const [{ default: sharp }, { default: Database }] = await Promise.all([import('sharp'), import('better-sqlite3')]);
  const db = new Database(':memory:');
  const sqlite = (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v;
  db.close();
  return [
    `${command} ${VERSION} (commit ${GIT_COMMIT}, built ${new Date(BUILD_TIME_MS).toISOString()})`,
    `node ${process.versions.node}`,
    `onnxruntime-node ${deps['onnxruntime-node']}`,
    `sharp ${deps.sharp} (libvips ${sharp.versions.vips})`,
    `better-sqlite3 ${deps['better-sqlite3']} (SQLite ${sqlite})`,
    `mqtt ${deps.mqtt}`,
    ...(command === 'splitoculo-cloud' ? [`@huggingface/transformers ${deps['@huggingface/transformers']}`, `aedes ${deps.aedes}`] : []),
  ].join('\n');
}
