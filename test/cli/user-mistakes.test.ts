// Every mistake a new user made in issue 14, through the real commands (child
// processes): each must end in exit 1 (2 for a bad option) and exactly one
// line on stderr that names the input at fault and what was expected, never
// a stack trace or "internal error".
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { encodeFrame } from '../../protocol/wire/frame.ts';
import { MAX_FRAME_BYTES } from '../../protocol/wire/frame.ts';
import { CLOUD_BIN, EDGE_BIN, cli, stderrLines, type CliResult } from '../helpers/cli.ts';
import { FRAMES_DIR, TINY_MODEL_DIR, TINY_QWEN_DIR } from '../helpers/paths.ts';

const dir = mkdtempSync(join(tmpdir(), 'splitoculo-mistakes-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Exit code as expected, exactly one stderr line, starting with the program's error prefix and matching `names`. */
function assertOneLine(result: CliResult, code: number, names: RegExp): string {
  const lines = stderrLines(result);
  assert.equal(result.code, code, `exit ${result.code}, stderr: ${result.stderr}`);
  assert.equal(lines.length, 1, `one stderr line expected, got:\n${result.stderr}`);
  const line = lines[0]!;
  assert.match(line, code === 2 ? /^splitoculo-(edge|cloud): usage error: / : /^splitoculo-(edge|cloud): error: /);
  assert.doesNotMatch(line, /internal error|frame frame|^\s+at /);
  assert.match(line, names);
  return line;
}

// A file that is not a folder: anything "under" it cannot be created.
const blocker = file('not-a-folder', 'x');
const port = await closedPort();
const edgeYaml = file(
  'edge.yaml',
  `device: { id: cam1 }
model: { path: ${TINY_MODEL_DIR} }
camera: { type: directory, path: ${FRAMES_DIR} }
outbox: { path: ${join(dir, 'edge-state', 'outbox.db')} }
mqtt: { url: "mqtt://127.0.0.1:${port}" }
log: { level: error }
`,
);
const cloudYaml = file(
  'cloud.yaml',
  `models: { paths: [${TINY_MODEL_DIR}] }
answerer: { type: local, qwen: ${TINY_QWEN_DIR} }
mqtt: { url: "mqtt://127.0.0.1:${port}" }
dedup: { path: ${join(dir, 'cloud-state', 'answered.db')} }
log: { level: error }
`,
);
const unusableOutbox = `outbox.path=${join(blocker, 'state', 'outbox.db')}`;

describe('one line for every user mistake (issue 14)', () => {
  describe('state folders', () => {
    for (const args of [['run'], ['queue', 'status'], ['answers']]) {
      it(`${args.join(' ')}: an outbox folder that cannot be created names outbox.path and the reason`, async () => {
        const result = await cli(EDGE_BIN, [...args, '-c', edgeYaml, '--set', unusableOutbox], { cwd: dir });
        assertOneLine(result, 1, /error: outbox\.path \S+not-a-folder\/state\/outbox\.db: \S+not-a-folder is a file, not a folder$/);
      });
    }

    it('queue status and answers create a missing outbox folder (mode 0750) instead of failing', async () => {
      for (const [n, args] of [
        ['a', ['queue', 'status']],
        ['b', ['answers']],
      ] as const) {
        const folder = join(dir, `fresh-${n}`, 'state');
        const result = await cli(EDGE_BIN, [...args, '-c', edgeYaml, '--set', `outbox.path=${join(folder, 'outbox.db')}`], { cwd: dir });
        assert.equal(result.code, 0, result.stderr);
        assert.equal(statSync(folder).mode & 0o777, 0o750);
        assert.equal(statSync(join(dir, `fresh-${n}`)).mode & 0o777, 0o750);
      }
    });

    it("the cloud's dedup.path that cannot be created is named, run stops with exit 1", async () => {
      const result = await cli(CLOUD_BIN, ['run', '-c', cloudYaml, '--set', `dedup.path=${join(blocker, 'd', 'answered.db')}`], { cwd: dir });
      assertOneLine(result, 1, /error: dedup\.path \S+not-a-folder\/d\/answered\.db: \S+not-a-folder is a file, not a folder$/);
    });

    it('check verifies every path the daemon will write and reports the outbox and answers file', async () => {
      const result = await cli(EDGE_BIN, ['check', '-c', edgeYaml, '--timeout', '2000', '--set', unusableOutbox, '--set', `answers.jsonlFile=${join(blocker, 'answers.jsonl')}`], { cwd: dir });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stdout, /^FAIL outbox: outbox\.path \S+not-a-folder\/state\/outbox\.db: \S+not-a-folder is a file, not a folder$/m);
      assert.match(result.stdout, /^FAIL answers file: answers\.jsonlFile \S+not-a-folder\/answers\.jsonl: \S+not-a-folder is a file, not a folder$/m);
      assert.match(result.stdout, /^ok {3}cache: /m);
      assert.match(result.stdout, /^FAIL broker: 127\.0\.0\.1:\d+: connection refused/m);
      assert.equal(result.stderr, '');
      const cloud = await cli(CLOUD_BIN, ['check', '-c', cloudYaml, '--timeout', '2000', '--set', `dedup.path=${join(blocker, 'answered.db')}`], { cwd: dir });
      assert.equal(cloud.code, 1, cloud.stderr);
      assert.match(cloud.stdout, /^FAIL dedup: dedup\.path \S+not-a-folder\/answered\.db: \S+not-a-folder is a file, not a folder$/m);
    });
  });

  describe('ports and brokers', () => {
    let busy: Server;
    let busyPort = 0;
    before(async () => {
      busy = createServer();
      await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
      busyPort = (busy.address() as { port: number }).port;
    });
    after(() => busy.close());

    it('edge run: a metrics port in use names metrics.port', async () => {
      const result = await cli(EDGE_BIN, ['run', '-c', edgeYaml, '--set', `metrics.port=${busyPort}`], { cwd: dir });
      assertOneLine(result, 1, new RegExp(`error: metrics\\.port ${busyPort}: cannot listen on 127\\.0\\.0\\.1:${busyPort}: already in use .*\\(EADDRINUSE\\)$`));
    });

    it('cloud run: a metrics port in use names metrics.port', async () => {
      const result = await cli(CLOUD_BIN, ['run', '-c', cloudYaml, '--set', `metrics.port=${busyPort}`], { cwd: dir });
      assertOneLine(result, 1, new RegExp(`error: metrics\\.port ${busyPort}: cannot listen on 127\\.0\\.0\\.1:${busyPort}: already in use .*\\(EADDRINUSE\\)$`));
    });

    it('queue replay --to a broker with nothing listening names --to and the address', async () => {
      const result = await cli(EDGE_BIN, ['queue', 'replay', '-c', edgeYaml, '--to', `mqtt://127.0.0.1:${port}`], { cwd: dir });
      assertOneLine(result, 1, new RegExp(`error: --to mqtt://127\\.0\\.0\\.1:${port}: cannot connect to the broker \\(127\\.0\\.0\\.1:${port}: connection refused`));
    });
  });

  describe('splitoculo-cloud decode', () => {
    const frame = encodeFrame({
      codec: 'jpeg',
      modelId: '0'.repeat(32),
      deviceId: 'cam1',
      frameId: '01890a5d-ac96-774b-bcce-b302099a8057',
      sequence: 1,
      captureTimeMs: 1,
      clockUnreliable: false,
      prompt: null,
      image: { width: 2, height: 2, jpeg: Uint8Array.of(0xff, 0xd8, 0xff, 0xd9) },
    });

    it('a folder', async () => {
      assertOneLine(await cli(CLOUD_BIN, ['decode', dir]), 1, new RegExp(`error: ${dir}: is a folder, expected a file holding one wire frame`));
    });

    it('a missing file, without a raw ENOENT line', async () => {
      const line = assertOneLine(await cli(CLOUD_BIN, ['decode', join(dir, 'nope.frame')]), 1, /error: \S+nope\.frame: no such file \(ENOENT\)$/);
      assert.doesNotMatch(line, /no such file or directory, open/);
    });

    it('a truncated frame names the file', async () => {
      const cut = file('cut.frame', frame.subarray(0, frame.length - 6));
      assertOneLine(await cli(CLOUD_BIN, ['decode', cut]), 1, new RegExp(`error: ${cut}: frame payload: needs 4 bytes`));
    });

    it('bytes after the CRC and an oversized file: "frame:" once, the file named', async () => {
      const long = file('long.frame', Buffer.concat([frame, Buffer.from([1, 2, 3])]));
      assertOneLine(await cli(CLOUD_BIN, ['decode', long]), 1, new RegExp(`error: ${long}: frame: 3 bytes after the CRC$`));
      const huge = file('huge.frame', new Uint8Array(MAX_FRAME_BYTES + 1));
      assertOneLine(await cli(CLOUD_BIN, ['decode', huge]), 1, new RegExp(`error: ${huge}: ${MAX_FRAME_BYTES + 1} bytes, a frame is at most ${MAX_FRAME_BYTES} bytes$`));
    });
  });

  describe('configuration', () => {
    it('--set foo.bar=1 is an error of the flag, not of the config file', async () => {
      const line = assertOneLine(await cli(EDGE_BIN, ['config', '-c', edgeYaml, '--set', 'foo.bar=1']), 1, /error: --set foo\.bar=1: \(top level\): Unrecognized key: "foo"/);
      assert.ok(!line.includes(edgeYaml), line);
    });

    it('a bad SPLITOCULO_* variable is an error of the variable', async () => {
      const result = await cli(EDGE_BIN, ['config', '-c', edgeYaml], { env: { SPLITOCULO_MQTT__INFLIGHT: 'lots' } });
      assertOneLine(result, 1, /error: environment variable SPLITOCULO_MQTT__INFLIGHT: mqtt\.inflight: Invalid input: expected number, received string$/);
      const cloud = await cli(CLOUD_BIN, ['config', '-c', cloudYaml], { env: { SPLITOCULO_WORKER__BATCH_SIZE: '0' } });
      assertOneLine(cloud, 1, /error: environment variable SPLITOCULO_WORKER__BATCH_SIZE: worker\.batchSize: /);
    });

    it('no config at all: one line naming --config and what it must hold', async () => {
      for (const [bin, sections] of [
        [EDGE_BIN, 'camera, mqtt'],
        [CLOUD_BIN, 'models, answerer'],
      ] as const) {
        for (const command of [['run'], ['config'], ['check']]) {
          const result = await cli(bin, command, { cwd: dir });
          assertOneLine(result, 1, new RegExp(`error: --config: no config file given \\(nor SPLITOCULO_CONFIG\\); expected a YAML or JSON file with at least ${sections} `));
        }
      }
    });

    it('a misspelt key gets a suggestion, naming the file', async () => {
      const misspelt = file('misspelt.yaml', `${'device: { id: cam1 }\nmodel: { path: m }\ncamera: { type: directory, path: d }\n'}outbox: { path: o.db, maxFrame: 10 }\nmqtt: { url: "mqtt://b" }\n`);
      assertOneLine(await cli(EDGE_BIN, ['config', '-c', misspelt]), 1, new RegExp(`error: ${misspelt}: outbox: Unrecognized key: "maxFrame" \\(did you mean "maxFrames"\\?\\)$`));
    });
  });

  describe('options', () => {
    for (const value of ['abc', '0']) {
      it(`answers -n ${value} is refused, naming the option`, async () => {
        const result = await cli(EDGE_BIN, ['answers', '-c', edgeYaml, '-n', value], { cwd: dir });
        assertOneLine(result, 2, new RegExp(`option '-n, --limit <n>' argument '${value}' is invalid\\. expected a whole number of at least 1`));
        assert.equal(result.stdout, '', 'nothing listed');
      });
    }

    it('queue export --out under a file names --out', async () => {
      const result = await cli(EDGE_BIN, ['queue', 'export', '-c', edgeYaml, '--out', join(blocker, 'export')], { cwd: dir });
      assertOneLine(result, 1, /error: --out \S+not-a-folder\/export: cannot create the folder \(.*ENOTDIR\)\)$/);
    });
  });

  describe('images for encode', () => {
    it('an empty file, a folder and a JPEG over the pixel limit each get their own reason', async () => {
      const empty = file('empty.jpg', '');
      assertOneLine(await cli(EDGE_BIN, ['encode', empty]), 1, new RegExp(`error: ${empty}: empty file \\(0 bytes\\), expected an image`));
      const folder = join(dir, 'pictures.jpg');
      mkdirSync(folder);
      assertOneLine(await cli(EDGE_BIN, ['encode', folder]), 1, new RegExp(`error: ${folder}: is a folder, expected an image file`));
      // A real 16x16 JPEG whose frame header claims 20000x15000: the decoder refuses it by size.
      const small = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#808080' } })
        .jpeg()
        .toBuffer();
      const huge = Buffer.from(small);
      for (let at = 2; at < huge.length; at += 2 + huge.readUInt16BE(at + 2)) {
        if (huge[at + 1] === 0xc0) {
          huge.writeUInt16BE(15000, at + 5);
          huge.writeUInt16BE(20000, at + 7);
          break;
        }
      }
      const big = file('huge.jpg', huge);
      assertOneLine(await cli(EDGE_BIN, ['encode', big]), 1, new RegExp(`error: ${big}: image too large: 20000x15000 = 300000000 pixels, the limit is 268402689 pixels \\(16383x16383\\)`));
    });
  });
});
