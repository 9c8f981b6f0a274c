/** `splitoculo-edge check`: config, model files, camera and broker, each reported; exit 1 if any fails. */
import type { Command } from 'commander';
import mqtt from 'mqtt';
import { loadModel } from '../../protocol/manifest/load.ts';
import { runChecks, type Check } from '../../runtime/checks.ts';
import { createLogger } from '../../runtime/logger.ts';
import { createSource } from '../sources/create-source.ts';
import { addConfigOptions, configFromFlags, type ConfigFlags } from './config-options.ts';

async function grabOne(config: ReturnType<typeof configFromFlags>, timeoutMs: number): Promise<string> {
  const source = createSource(config.camera, createLogger('error'));
  await source.start();
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const image = await source.grab();
      if (image) return `${source.name}: got ${image.label} (${image.bytes.length} bytes)`;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${source.name}: no image within ${timeoutMs} ms`);
  } finally {
    await source.stop();
  }
}

export function registerCheck(program: Command): void {
  addConfigOptions(program.command('check').description('validate config, model files, camera and broker, then exit').option('--timeout <ms>', 'per check', (v) => Number(v), 10_000)).action(async (flags: ConfigFlags & { timeout: number }) => {
    const config = configFromFlags(flags); // throws ConfigError naming the path
    console.log(`ok   config: device ${config.device.id}`);
    const checks: Check[] = [
      ['model', async () => {
        const model = await loadModel(config.model.path, ['edge']);
        return `${model.manifest.name} ${model.manifest.modelId}, edge.onnx hash verified`;
      }],
      ['camera', () => grabOne(config, flags.timeout)],
      ['broker', async () => {
        const client = await mqtt.connectAsync(config.mqtt.url, { reconnectPeriod: 0, connectTimeout: flags.timeout, clientId: `splitoculo-check-${process.pid}` });
        await client.endAsync();
        return `${config.mqtt.url} reachable`;
      }],
    ];
    await runChecks(checks);
  });
}
