// Issue 15, finding 8 (secrets) and the cloud half of finding 10 (check with
// the worker's credentials). A URL's password is refused wherever one can be
// typed, and the refusal no longer repeats it; nothing the daemon logs or
// `config` prints holds a password file's content; `splitoculo-cloud check`
// logs in as `run` does.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { redactSecrets } from '../../runtime/printable.ts';
import { cli, CLOUD_BIN, EDGE_BIN, stderrLines } from '../helpers/cli.ts';
import { edgeCase } from '../helpers/edge-case.ts';
import { EdgeProcess, stopAllEdges } from '../helpers/edge-process.ts';
import { freePort, Mosquitto } from '../helpers/mosquitto.ts';
import { FRAMES_DIR, TINY_MODEL_DIR } from '../helpers/paths.ts';
import { waitFor } from '../helpers/wait.ts';

const root = mkdtempSync(join(tmpdir(), 'splitoculo-secrets-'));
after(() => rmSync(root, { recursive: true, force: true }));
afterEach(stopAllEdges);

const SECRET = 's3cret-Xq7';
const PASSWORD = 'correct-horse-Zr4';

const edgeFile = join(root, 'edge.json');
writeFileSync(
  edgeFile,
  JSON.stringify({ device: { id: 'cam-1' }, model: { path: 'm' }, camera: { type: 'directory', path: 'd' }, outbox: { path: join(root, 'o.db') }, mqtt: { url: 'mqtt://127.0.0.1:1' } }),
);

describe('secrets', () => {
  it('redactSecrets: every URL password in a text, nothing else', () => {
    assert.equal(
      redactSecrets(`--set mqtt.url=mqtt://cam:${SECRET}@h:1883 and https://a:b@c/x, mqtt://plain@h, a:b@c`),
      '--set mqtt.url=mqtt://cam:***@h:1883 and https://a:***@c/x, mqtt://plain@h, a:b@c',
    );
  });

  for (const [how, args, env] of [
    ['--set', ['config', '-c', edgeFile, '--set', `mqtt.url=mqtt://cam:${SECRET}@127.0.0.1:1883`], {}],
    ['SPLITOCULO_MQTT__URL', ['config', '-c', edgeFile], { SPLITOCULO_MQTT__URL: `mqtt://cam:${SECRET}@127.0.0.1:1883` }],
    ['queue replay --to', ['queue', 'replay', '-c', edgeFile, '--to', `mqtt://cam:${SECRET}@127.0.0.1:1`], {}],
  ] as const) {
    it(`a password in a URL given by ${how}: refused in one line that does not repeat it, exit 1`, async () => {
      const result = await cli(EDGE_BIN, [...args], { env });
      assert.equal(result.code, 1, result.stderr);
      const lines = stderrLines(result);
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0]!, /carries a password/);
      assert.ok(!(result.stdout + result.stderr).includes(SECRET), result.stderr);
    });
  }

  it('cloud: credentials in answerer.baseUrl refused without repeating them (errors about the server reach devices in answers)', async () => {
    const file = join(root, 'cloud-vllm.json');
    writeFileSync(
      file,
      JSON.stringify({
        models: { paths: ['m'] },
        answerer: { type: 'vllm', qwen: 'q', model: 'qwen', baseUrl: `http://api:${SECRET}@gpu:8000/v1` },
        mqtt: { url: 'mqtt://127.0.0.1:1' },
        dedup: { path: join(root, 'd.db') },
      }),
    );
    const result = await cli(CLOUD_BIN, ['config', '-c', file]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /answerer\.baseUrl: the URL carries credentials/);
    assert.ok(!(result.stdout + result.stderr).includes(SECRET));
  });

  describe('against mosquitto with passwords', () => {
    let broker: Mosquitto;
    const passwordFile = join(root, 'password');
    const wrongFile = join(root, 'wrong-password');
    before(async () => {
      // mosquitto started as root reads its password file as its own user.
      chmodSync(root, 0o755);
      const passwords = join(root, 'passwd');
      writeFileSync(passwords, '');
      execFileSync('mosquitto_passwd', ['-b', passwords, 'cam', PASSWORD]);
      chmodSync(passwords, 0o644);
      writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
      writeFileSync(wrongFile, `${SECRET}\n`, { mode: 0o600 });
      broker = await Mosquitto.start(await freePort(), (p) => [`listener ${p} 127.0.0.1`, 'allow_anonymous false', `password_file ${passwords}`]);
    });
    after(async () => broker.dispose());

    it('the daemon refused and reconnecting, then connected, and its config: no password in any line', async () => {
      const { path: wrong } = edgeCase(root, {
        device: { id: 'secret-cam' },
        camera: { type: 'file', path: join(FRAMES_DIR, 'coins.png') },
        capture: { paused: true },
        mqtt: { url: broker.url, username: 'cam', passwordFile: wrongFile, backoffInitialMs: 50, backoffMaxMs: 100 },
      });
      const refused = new EdgeProcess(wrong);
      // Several refused attempts (each logged: the reconnect path of finding 8).
      await waitFor(() => refused.raw.filter((line) => line.includes('reconnecting')).length >= 3, { what: 'three reconnects after refusals', timeoutMs: 60_000 });
      await refused.stop();
      const { path: right } = edgeCase(root, {
        device: { id: 'secret-cam-2' },
        camera: { type: 'file', path: join(FRAMES_DIR, 'coins.png') },
        capture: { paused: true },
        mqtt: { url: broker.url, username: 'cam', passwordFile },
      });
      const edge = new EdgeProcess(right);
      await edge.waitFor((line) => line.msg === 'connected to the broker', 60_000, 'connected with the right password');
      await edge.stop();
      const config = await cli(EDGE_BIN, ['config', '-c', right]);
      assert.equal(config.code, 0, config.stderr);
      assert.equal(JSON.parse(config.stdout).mqtt.passwordFile, passwordFile, 'the file is named');
      for (const output of [refused.raw.join('\n') + refused.stderr, edge.raw.join('\n') + edge.stderr, config.stdout + config.stderr]) {
        assert.ok(!output.includes(SECRET) && !output.includes(PASSWORD), 'a password reached a log line or the config output');
      }
    });

    it('splitoculo-cloud check logs in with mqtt.username and mqtt.passwordFile, as run does', async () => {
      const file = join(root, 'cloud-check.json');
      writeFileSync(
        file,
        JSON.stringify({
          models: { paths: [TINY_MODEL_DIR] },
          answerer: { type: 'local', qwen: join(root, 'no-qwen') },
          mqtt: { url: broker.url, username: 'cam', passwordFile },
          dedup: { path: join(root, 'check-dedup.db') },
        }),
      );
      const result = await cli(CLOUD_BIN, ['check', '-c', file, '--timeout', '5000']);
      const line = result.stdout.split('\n').find((l) => / broker: /.test(l));
      assert.equal(line, `ok   broker: ${broker.url} reachable`, result.stdout);
      assert.ok(!(result.stdout + result.stderr).includes(PASSWORD));
    });
  });
});
