import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig, overridesFromEnv } from '../../daemon/config/load.ts';
import { configFromFlags } from '../../daemon/cli/config-options.ts';
import { REPO_ROOT } from '../helpers/paths.ts';

const dir = mkdtempSync(join(tmpdir(), 'splitoculo-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const minimal = `device: { id: cam1 }
model: { path: /models/tiny }
camera: { type: directory, path: /frames }
outbox: { path: /var/lib/splitoculo/outbox.db }
mqtt: { url: "mqtt://file:1883", inflight: 4 }
`;

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('edge configuration', () => {
  it('accepts the shipped example', () => {
    // As the commands read it: what the file leaves out comes from their defaults (the built-in models).
    const config = configFromFlags({ config: join(REPO_ROOT, 'daemon', 'config', 'example.yaml'), set: [] }, {});
    // Issue 17: written for the Rock 5B, which has no rpicam-vid: a V4L2 camera, and models that exist.
    assert.equal(config.camera.type, 'v4l2');
    assert.ok(existsSync(join(config.model.path, 'manifest.json')), `${config.model.path} holds no model`);
    assert.equal(config.mqtt.link, 'ble');
  });

  it('fills defaults and applies file < environment < flags', () => {
    const path = file('a.yaml', minimal);
    const config = loadConfig({
      file: path,
      env: { SPLITOCULO_MQTT__URL: 'mqtt://env:1883', SPLITOCULO_OUTBOX__MAX_FRAMES: '50', SPLITOCULO_MQTT__INFLIGHT: '8', UNRELATED: 'x' },
      sets: ['mqtt.inflight=16', 'capture.prompt="How many?"'],
    });
    assert.equal(config.mqtt.url, 'mqtt://env:1883');
    assert.equal(config.outbox.maxFrames, 50);
    assert.equal(config.mqtt.inflight, 16);
    assert.equal(config.capture.prompt, 'How many?');
    assert.equal(config.outbox.policy, 'drop-oldest');
    assert.equal(config.capture.intervalMs, 1000);
    assert.deepEqual(overridesFromEnv({ SPLITOCULO_CAMERA__EXTRA_ARGS: '["-x"]', SPLITOCULO_CACHE_DIR: '/var/cache/x', SPLITOCULO_CONFIG: 'a.yaml' }), { camera: { extraArgs: ['-x'] } });
  });

  it('names the path and the expectation of every error', () => {
    const path = file('b.yaml', minimal);
    const cases: Array<[string[], RegExp]> = [
      [['device.id=a/b'], /device\.id: "a\/b" must start with a letter or digit/],
      [['mqtt.inflight=0'], /mqtt\.inflight: Too small: expected number to be >=1/],
      [['camera.type=webcam'], /camera\.type: /],
      [['outbox.surprise=1'], /outbox: Unrecognized key: "surprise"/],
      [['mqtt.topicPrefix=a/#'], /mqtt\.topicPrefix: "a\/#" must not contain/],
      [['capture.intervalMs=fast'], /capture\.intervalMs: Invalid input: expected number, received string/],
    ];
    for (const [sets, message] of cases) {
      // The value came from the flag, so the flag is named, not the file (issue 14).
      assert.throws(
        () => loadConfig({ file: path, sets }),
        (e: unknown) => e instanceof ConfigError && message.test(e.message) && e.message.startsWith(`--set ${sets[0]}: `),
        String(sets),
      );
    }
    assert.throws(() => loadConfig({ file: path, sets: ['novalue'] }), /--set novalue: expected path=value/);
    assert.throws(() => loadConfig({ file: file('c.yaml', 'device: [unclosed') }), /c\.yaml: not valid YAML/);
    assert.throws(() => loadConfig({ file: join(dir, 'missing.yaml') }), /missing\.yaml: cannot read the config file \(ENOENT\)/);
    assert.throws(() => loadConfig({ file: file('d.json', '{"device": ') }), /d\.json: not valid JSON/);
  });

  it('names the file, the environment variable or the flag that set a bad value, and suggests a misspelt key', () => {
    const path = file('e.yaml', minimal.replace('inflight: 4', 'inflight: 4, keepAliveSeconds: 30'));
    assert.throws(
      () => loadConfig({ file: path }),
      (e: unknown) => e instanceof ConfigError && e.message === `${path}: mqtt: Unrecognized key: "keepAliveSeconds" (did you mean "keepaliveSeconds"?)`,
    );
    const good = file('f.yaml', minimal);
    assert.throws(
      () => loadConfig({ file: good, env: { SPLITOCULO_MQTT__INFLIGHT: 'many' } }),
      (e: unknown) => e instanceof ConfigError && e.message === 'environment variable SPLITOCULO_MQTT__INFLIGHT: mqtt.inflight: Invalid input: expected number, received string',
    );
    assert.throws(
      () => loadConfig({ file: good, sets: ['foo.bar=1'] }),
      (e: unknown) => e instanceof ConfigError && e.message.startsWith('--set foo.bar=1: (top level): Unrecognized key: "foo" (expected one of: device, model, camera'),
    );
    assert.throws(
      () => loadConfig({ file: good, sets: ['outbox.maxframes=2', 'mqtt.password=hunter2x', 'mqtt.inflight=0'] }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message.startsWith('--set outbox.maxframes=2: outbox: Unrecognized key: "maxframes" (did you mean "maxFrames"?); ') &&
        e.message.includes('; --set mqtt.inflight=0: mqtt.inflight: Too small') &&
        !e.message.includes('hunter2x'),
    );
    assert.throws(() => loadConfig({ file: good, sets: ['a..b=1'] }), /--set a\.\.b=1: expected a dotted path/);
  });

  it('without any config file says so in one line, naming --config and the sections it needs', () => {
    assert.throws(
      () => loadConfig({ env: {}, defaults: { device: { id: 'cam1' }, model: { path: 'm' }, outbox: { path: 'o.db' } } }),
      (e: unknown) => e instanceof ConfigError && e.message.startsWith('--config: no config file given (nor SPLITOCULO_CONFIG); expected a YAML or JSON file with at least camera, mqtt'),
    );
  });
});
