// Issue 15, finding 10: `--set __proto__.x=1` wrote into Object.prototype
// (every object of the process then had an `x`) and the daemon crashed. Paths
// naming __proto__, constructor or prototype are refused wherever settings
// come from outside (flags, environment, file keys): one line naming the flag,
// variable or file, exit 1, and Object.prototype untouched.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../daemon/config/load.ts';
import { ConfigError, overridesFromEnv, overridesFromFlags } from '../../runtime/layered-config.ts';
import { cli, CLOUD_BIN, EDGE_BIN, stderrLines } from '../helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'splitoculo-proto-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const edgeFile = join(dir, 'edge.json');
writeFileSync(
  edgeFile,
  JSON.stringify({ device: { id: 'cam-1' }, model: { path: 'm' }, camera: { type: 'directory', path: 'd' }, outbox: { path: join(dir, 'o.db') }, mqtt: { url: 'mqtt://127.0.0.1:1' } }),
);
const cloudFile = join(dir, 'cloud.json');
writeFileSync(cloudFile, JSON.stringify({ models: { paths: ['m'] }, answerer: { type: 'local', qwen: 'q' }, mqtt: { url: 'mqtt://127.0.0.1:1' }, dedup: { path: join(dir, 'd.db') } }));

const polluted = () => Object.getOwnPropertyNames(Object.prototype).filter((name) => ['x', 'polluted', 'debug'].includes(name));

describe('prototype keys in settings', () => {
  for (const assignment of ['__proto__.x=1', 'mqtt.__proto__.polluted=1', 'constructor.prototype.x=1', 'mqtt.constructor.prototype.polluted=1', 'prototype.x=1']) {
    it(`--set ${assignment} is refused in process and Object.prototype stays clean`, () => {
      assert.throws(
        () => overridesFromFlags([assignment]),
        (error: Error) => error instanceof ConfigError && error.message.startsWith(`--set ${assignment}: `),
      );
      assert.deepEqual(polluted(), []);
      assert.equal(({} as Record<string, unknown>).x, undefined);
    });
  }

  it('environment variables with such segments are refused, naming the variable', () => {
    const env = { SPLITOCULO_MQTT__CONSTRUCTOR__PROTOTYPE__POLLUTED: '1' };
    assert.throws(() => overridesFromEnv(env, new Set(['mqtt'])), /^ConfigError: environment variable SPLITOCULO_MQTT__CONSTRUCTOR__PROTOTYPE__POLLUTED: "constructor" is not a setting name$/);
    assert.deepEqual(polluted(), []);
  });

  it('a config file with a __proto__ key is refused, naming the file and the key', () => {
    const file = join(dir, 'proto.json');
    writeFileSync(file, '{"device":{"id":"cam-1"},"mqtt":{"url":"mqtt://b","__proto__":{"polluted":1}}}');
    assert.throws(
      () => loadConfig({ file }),
      (error: Error) => error instanceof ConfigError && error.message === `${file}: mqtt.__proto__: "__proto__" is not a setting name`,
    );
    assert.deepEqual(polluted(), []);
  });

  for (const [program, bin, file] of [
    ['splitoculo-edge', EDGE_BIN, edgeFile],
    ['splitoculo-cloud', CLOUD_BIN, cloudFile],
  ] as const) {
    it(`${program} config --set __proto__.debug=1: one line naming the flag, exit 1`, async () => {
      const result = await cli(bin, ['config', '-c', file, '--set', '__proto__.debug=1']);
      assert.equal(result.code, 1, result.stderr);
      assert.deepEqual(stderrLines(result), [`${program}: error: --set __proto__.debug=1: "__proto__" is not a setting name`]);
      assert.equal(result.stdout, '');
    });

    it(`${program} config with SPLITOCULO_MQTT__CONSTRUCTOR__PROTOTYPE__X: one line naming the variable, exit 1`, async () => {
      const result = await cli(bin, ['config', '-c', file], { env: { SPLITOCULO_MQTT__CONSTRUCTOR__PROTOTYPE__X: '1' } });
      assert.equal(result.code, 1, result.stderr);
      assert.deepEqual(stderrLines(result), [`${program}: error: environment variable SPLITOCULO_MQTT__CONSTRUCTOR__PROTOTYPE__X: "constructor" is not a setting name`]);
    });
  }
});
