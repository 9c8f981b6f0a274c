// One MQTT connection module for both programs (runtime/mqtt-connection.ts)
// and the shared mqtt config section (runtime/mqtt-config.ts): the options
// both programs get, secrets from files only, redaction, the MQTT 5 fallback,
// and a real mosquitto with a password file.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { configSchema } from '../../daemon/config/schema.ts';
import { cloudConfigSchema } from '../../cloud/config/schema.ts';
import { isUserError } from '../../protocol/errors.ts';
import { ConfigError, validateWith } from '../../runtime/layered-config.ts';
import { BrokerError, checkConnectionFiles, clientOptions, connectMqtt, fallbackProtocol, MqttSettingsError, redactUrl } from '../../runtime/mqtt-connection.ts';
import { Mosquitto, freePort } from '../helpers/mosquitto.ts';
import { CLOUD_BIN, cli as runCli, EDGE_BIN, stderrLines } from '../helpers/cli.ts';
import { REPO_ROOT, TINY_MODEL_DIR } from '../helpers/paths.ts';
import { waitUntil } from '../helpers/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'splitoculo-mqtt-connection-'));
chmodSync(dir, 0o755); // mosquitto reads the password file as its own user
after(() => rmSync(dir, { recursive: true, force: true }));

const base = { clientId: 'c1', keepaliveSeconds: 30, reconnectPeriodMs: 0, connectTimeoutMs: 5000 };

describe('MQTT connection options', () => {
  it('MQTT 5 carries the session properties and the maximum packet size; 3.1.1 carries none', () => {
    const v5 = clientOptions({ ...base, settings: { url: 'mqtt://b' }, protocol: 5, maximumPacketSize: 1_114_112, sessionExpirySeconds: 60, receiveMaximum: 8 });
    assert.equal(v5.protocolVersion, 5);
    assert.deepEqual(v5.properties, { sessionExpiryInterval: 60, receiveMaximum: 8, maximumPacketSize: 1_114_112 });
    assert.equal(v5.clean, false);
    assert.equal(v5.queueQoSZero, false, 'the programs queue themselves');
    const v4 = clientOptions({ ...base, settings: { url: 'mqtt://b' }, protocol: 4, maximumPacketSize: 1_114_112 });
    assert.equal(v4.protocolVersion, 4);
    assert.equal(v4.properties, undefined);
  });

  it('reads the password, CA, certificate and key from their files; the error names the setting and the file', () => {
    const secret = join(dir, 'password');
    writeFileSync(secret, '  correct horse \n', { mode: 0o600 });
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, 'CA');
    const options = clientOptions({ ...base, settings: { url: 'mqtts://b', username: 'u', passwordFile: secret, ca }, protocol: 4 });
    assert.equal(options.password, 'correct horse');
    assert.equal(String(options.ca), 'CA');
    const missing = join(dir, 'absent.key');
    checkConnectionFiles({ url: 'mqtts://b', passwordFile: secret, ca });
    assert.throws(
      () => checkConnectionFiles({ url: 'mqtts://b', ca, cert: missing }),
      (error: Error) => error.message === `mqtt.cert (${missing}): cannot read the file (ENOENT)`,
    );
    assert.throws(
      () => clientOptions({ ...base, settings: { url: 'mqtts://b', key: missing }, protocol: 4 }),
      (error: Error) => error instanceof MqttSettingsError && isUserError(error) && error.message === `mqtt.key (${missing}): cannot read the file (ENOENT)`,
    );
    for (const [passwordFile, expected] of [
      [dir, 'not a regular file'],
      [join(dir, 'absent'), 'cannot read the file (ENOENT)'],
    ] as const) {
      assert.throws(
        () => clientOptions({ ...base, settings: { url: 'mqtt://b', passwordFile }, protocol: 4 }),
        (error: Error) => error instanceof MqttSettingsError && error.message === `mqtt.passwordFile (${passwordFile}): ${expected}`,
      );
    }
    const huge = join(dir, 'huge');
    writeFileSync(huge, 'x'.repeat(5000), { mode: 0o600 });
    assert.throws(() => clientOptions({ ...base, settings: { url: 'mqtt://b', passwordFile: huge }, protocol: 4 }), /mqtt\.passwordFile .*: 5000 bytes; expected a password of at most 4096/);
  });

  it('falls back from 5 to 3.1.1 only on `auto` and only when the broker refused the version', () => {
    const refused = { code: 132 };
    assert.equal(fallbackProtocol('auto', 5, refused), 4);
    assert.equal(fallbackProtocol('auto', 5, { code: 1 }), 4);
    assert.equal(fallbackProtocol('5', 5, refused), null, 'MQTT 5 asked for: no fallback');
    assert.equal(fallbackProtocol('auto', 4, refused), null);
    assert.equal(fallbackProtocol('auto', 5, { code: 135 }), null, 'not authorised is not a version problem');
    assert.equal(fallbackProtocol('auto', 5, new Error('ECONNREFUSED')), null);
  });

  it('never logs a password that came in a URL', () => {
    assert.equal(redactUrl('mqtt://cam:hunter2@broker:1883'), 'mqtt://cam:***@broker:1883');
    assert.equal(redactUrl('mqtts://broker:8883'), 'mqtts://broker:8883');
    assert.equal(redactUrl('mqtt+unix:///run/mosquitto.sock'), 'mqtt+unix:///run/mosquitto.sock');
    assert.ok(!redactUrl('mqtt://cam:hunter2@[::1').includes('hunter2'), 'an unparsable URL too');
  });
});

describe('shared mqtt config section', () => {
  const edge = (mqtt: Record<string, unknown>) => validateWith(configSchema.shape.mqtt, mqtt, 'edge.yaml');
  const cloud = (mqtt: Record<string, unknown>) => validateWith(cloudConfigSchema, { models: { paths: ['m'] }, answerer: { type: 'local', qwen: 'q' }, dedup: { path: 'd' }, mqtt }, 'cloud.yaml');

  it('refuses a plaintext mqtt.password in both programs, naming the file setting to use', () => {
    for (const parse of [edge, cloud]) {
      assert.throws(
        () => parse({ url: 'mqtt://b', password: 'hunter2' }),
        (error: Error) => error instanceof ConfigError && /password: a plaintext password is not accepted; .*mqtt\.passwordFile/.test(error.message) && !error.message.includes('hunter2'),
      );
    }
  });

  it('refuses a password inside the broker URL, without repeating it', () => {
    for (const parse of [edge, cloud]) {
      assert.throws(
        () => parse({ url: 'mqtt://cam:hunter2@b:1883' }),
        (error: Error) => error instanceof ConfigError && /url: the URL carries a password; .*mqtt\.passwordFile/.test(error.message) && !error.message.includes('hunter2'),
      );
    }
  });

  it('gives both programs the same connection fields', () => {
    const e = edge({ url: 'mqtt://b', username: 'u', passwordFile: '/p', ca: '/ca', cert: '/c', key: '/k' });
    const c = cloud({ url: 'mqtt://b', username: 'u', passwordFile: '/p', ca: '/ca', cert: '/c', key: '/k' }).mqtt;
    for (const field of ['url', 'username', 'passwordFile', 'ca', 'cert', 'key', 'topicPrefix'] as const) assert.equal(e[field], c[field], field);
  });
});

describe('MQTT connection against mosquitto', () => {
  it('logs in with a password file; a wrong one is refused by the broker with a CONNACK code', async () => {
    const passwords = join(dir, 'passwd');
    writeFileSync(passwords, '');
    execFileSync('mosquitto_passwd', ['-b', passwords, 'cam', 'correct horse']);
    chmodSync(passwords, 0o644);
    const broker = await Mosquitto.start(await freePort(), (p) => [`listener ${p} 127.0.0.1`, 'allow_anonymous false', `password_file ${passwords}`]);
    try {
      const good = join(dir, 'good');
      writeFileSync(good, 'correct horse\n', { mode: 0o600 });
      const bad = join(dir, 'bad');
      writeFileSync(bad, 'battery staple\n', { mode: 0o600 });
      for (const [file, protocol] of [
        [good, 5],
        [good, 4],
      ] as const) {
        const client = connectMqtt({ ...base, clientId: `ok-${protocol}`, settings: { url: broker.url, username: 'cam', passwordFile: file }, protocol });
        await waitUntil(() => client.connected, 5000, `connected with MQTT ${protocol}`);
        await client.endAsync();
      }
      const refused = connectMqtt({ ...base, clientId: 'refused', settings: { url: broker.url, username: 'cam', passwordFile: bad }, protocol: 5 });
      const error = await new Promise<Error>((resolve) => refused.once('error', resolve));
      await refused.endAsync(true);
      // MQTT 5 reason 0x86 (bad user name or password) or 0x87 (not authorised: mosquitto 2.0's answer).
      assert.ok([134, 135].includes((error as { code?: number }).code ?? 0), `reason ${(error as { code?: number }).code}`);
      assert.equal(fallbackProtocol('auto', 5, error), null, 'a refused password is not retried as 3.1.1');
      assert.ok(new BrokerError('x') instanceof Error && isUserError(new BrokerError('x')));
    } finally {
      await broker.dispose();
    }
  });
});

describe('MQTT settings mistakes through the real CLIs', () => {
  /** Runs a CLI as a user would (test/helpers/cli.ts); its exit code and the lines it wrote to stderr. */
  async function cli(bin: string, args: string[]): Promise<{ code: number; lines: string[] }> {
    const result = await runCli(bin, args);
    return { code: result.code, lines: stderrLines(result) };
  }
  const edgeConfig = (mqtt: object) => {
    const path = join(dir, `edge-${Math.random().toString(36).slice(2)}.json`);
    const config = {
      device: { id: 'cli-cam' },
      model: { path: TINY_MODEL_DIR },
      camera: { type: 'file', path: join(REPO_ROOT, 'test', 'fixtures', 'frames', 'camera.png') },
      capture: { maxFrames: 1 },
      outbox: { path: join(dir, `outbox-${Math.random().toString(36).slice(2)}.db`) },
      mqtt,
    };
    writeFileSync(path, JSON.stringify(config));
    return path;
  };

  it('edge and cloud: a plaintext mqtt.password is one line naming the setting to use, exit 1, the password not repeated', async () => {
    const cloudPath = join(dir, 'cloud.json');
    writeFileSync(
      cloudPath,
      JSON.stringify({ models: { paths: [TINY_MODEL_DIR] }, answerer: { type: 'local', qwen: 'q' }, dedup: { path: join(dir, 'dedup.db') }, mqtt: { url: 'mqtt://127.0.0.1:1', password: 'hunter2' } }),
    );
    for (const { code, lines } of [await cli(EDGE_BIN, ['check', '-c', edgeConfig({ url: 'mqtt://127.0.0.1:1', password: 'hunter2' })]), await cli(CLOUD_BIN, ['check', '-c', cloudPath])]) {
      assert.equal(code, 1, lines.join('\n'));
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0]!, /mqtt\.password: a plaintext password is not accepted; .*set mqtt\.passwordFile/);
      assert.ok(!lines[0]!.includes('hunter2'));
    }
  });

  it('edge: an unreadable mqtt.passwordFile is one line naming the setting and the file, exit 1', async () => {
    const missing = join(dir, 'no-such-password');
    const { code, lines } = await cli(EDGE_BIN, ['run', '-c', edgeConfig({ url: 'mqtt://127.0.0.1:1', username: 'cam', passwordFile: missing })]);
    assert.equal(code, 1, lines.join('\n'));
    assert.deepEqual(
      lines.filter((line) => !line.startsWith('{')),
      [`splitoculo-edge: error: mqtt.passwordFile (${missing}): cannot read the file (ENOENT)`],
    );
  });
});
