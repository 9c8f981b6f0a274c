/**
 * `splitoculo-edge check`: config, model files, camera, broker and every path
 * the daemon will write (outbox, answers file, the single binary's cache),
 * each reported; exit 1 if any fails.
 */
import type { Command } from 'commander';
import { loadModel } from '../../protocol/manifest/load.ts';
import { cacheCheck, runChecks, type Check } from '../../runtime/checks.ts';
import { createLogger } from '../../runtime/logger.ts';
import { readKeyFile } from '../../runtime/key-file.ts';
import { checkStateFile } from '../../runtime/state-paths.ts';
import { createSource } from '../sources/create-source.ts';
import { connectOnce } from './broker-client.ts';
import { addConfigOptions, configFromFlags, type ConfigFlags } from './config-options.ts';
import { parseTimeoutMs } from '../../runtime/config-options.ts';

async function grabOne(config: ReturnType<typeof configFromFlags>, timeoutMs: number): Promise<string> {
  // The camera's own words (ffmpeg's or rpicam-vid's last line) when it fails: check says why, not just "no image".
  let failure = '';
  const source = createSource(config.camera, createLogger('silent'), { onRestart: (reason) => (failure = reason) });
  await source.start();
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const image = await source.grab();
      if (image) return `${source.name}: got ${image.label} (${image.bytes.length} bytes)`;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${source.name}: no image within ${timeoutMs} ms${failure ? `; the camera ${failure}` : ''}`);
  } finally {
    await source.stop();
  }
}

/** The files the daemon writes, each checked as run would use it (folder creatable or writable, file writable). */
export function writePathChecks(config: ReturnType<typeof configFromFlags>, env: NodeJS.ProcessEnv = process.env): Check[] {
  const checks: Check[] = [['outbox', async () => `${config.outbox.path}: writable in ${checkStateFile(config.outbox.path, 'outbox.path')}`]];
  const answers = config.answers.jsonlFile;
  if (answers) checks.push(['answers file', async () => `${answers}: writable in ${checkStateFile(answers, 'answers.jsonlFile')}`]);
  const state = config.state.path; // by default beside the outbox, whose folder is checked above
  if (state) checks.push(['state file', async () => `${state}: writable in ${checkStateFile(state, 'state.path')}`]);
  checks.push(cacheCheck(env));
  return checks;
}

export function registerCheck(program: Command): void {
  addConfigOptions(program.command('check').description('validate config, model files, camera and broker, then exit').option('--timeout <ms>', 'per check', parseTimeoutMs, 10_000)).action(
    async (flags: ConfigFlags & { timeout: number }) => {
      const config = configFromFlags(flags); // throws ConfigError naming the path
      console.log(`ok   config: device ${config.device.id}`);
      const checks: Check[] = [
        ...writePathChecks(config),
        ...(config.auth.keyFile ? [['key file', async () => `${config.auth.keyFile}: ${readKeyFile(config.auth.keyFile!).length}-byte key`] as Check] : []),
        [
          'model',
          async () => {
            const model = await loadModel(config.model.path, ['edge']);
            return `${model.manifest.name} ${model.manifest.modelId}, edge.onnx hash verified`;
          },
        ],
        ['camera', () => grabOne(config, flags.timeout)],
        [
          'broker',
          async () => {
            const client = await connectOnce(config, config.mqtt.url, `splitoculo-check-${process.pid}`, flags.timeout);
            await client.endAsync();
            return `${config.mqtt.url} reachable`;
          },
        ],
      ];
      await runChecks(checks);
    },
  );
}
