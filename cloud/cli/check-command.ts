/** `splitoculo-cloud check`: config, models, answerer files, broker and the paths the worker writes (dedup file, the binary's cache), each reported; exit 1 if any fails. */
import type { Command } from 'commander';
import mqtt from 'mqtt';
import { loadModel } from '../../protocol/manifest/load.ts';
import { clientOptions, redactUrl } from '../../runtime/mqtt-connection.ts';
import { cacheCheck, runChecks, type Check } from '../../runtime/checks.ts';
import { checkStateFile } from '../../runtime/state-paths.ts';
import { createAnswerer } from '../answer/create-answerer.ts';
import { consoleChecks } from '../console/console-check.ts';
import { addConfigOptions, cloudConfigFromFlags, type ConfigFlags } from './config-options.ts';
import { parseTimeoutMs } from '../../runtime/config-options.ts';

export function registerCheck(program: Command): void {
  addConfigOptions(
    program.command('check').description("validate config, models, the answerer's files and the broker, then exit").option('--timeout <ms>', 'broker check', parseTimeoutMs, 10_000),
  ).action(async (flags: ConfigFlags & { timeout: number }) => {
    const config = cloudConfigFromFlags(flags); // throws ConfigError naming the path
    console.log(`ok   config: ${config.models.paths.length} model(s), ${config.answerer.type} answerer`);
    const manifests: Awaited<ReturnType<typeof loadModel>>['manifest'][] = [];
    const checks: Check[] = [
      ['dedup', async () => `${config.dedup.path}: writable in ${checkStateFile(config.dedup.path, 'dedup.path')}`],
      ...consoleChecks(config),
      cacheCheck(),
      ...config.models.paths.map(
        (path): Check => [
          `model ${path}`,
          async () => {
            const model = await loadModel(path, ['cloud']);
            manifests.push(model.manifest);
            return `${model.manifest.name} ${model.manifest.modelId}, split layer ${model.manifest.splitLayer}, cloud.onnx hash verified`;
          },
        ],
      ),
      [
        'answerer',
        async () => {
          const answerer = await createAnswerer(config.answerer);
          try {
            await answerer.prepare(manifests);
            return `${answerer.description}: vision tails for ${manifests.length} model(s) loaded`;
          } finally {
            await answerer.close();
          }
        },
      ],
      [
        'broker',
        async () => {
          if (!config.mqtt.url) return 'embedded broker (started by run)';
          // The worker's own TLS files, username and password file (as `run` connects), in a clean 3.1.1 session that leaves nothing behind.
          const url = config.mqtt.url;
          const options = clientOptions({
            settings: { ...config.mqtt, url },
            clientId: `splitoculo-cloud-check-${process.pid}`,
            protocol: 4,
            keepaliveSeconds: 30,
            reconnectPeriodMs: 0,
            connectTimeoutMs: flags.timeout,
          });
          const client = await mqtt.connectAsync(url, { ...options, clean: true });
          await client.endAsync();
          return `${redactUrl(url)} reachable`;
        },
      ],
    ];
    await runChecks(checks);
  });
}
