// Home Assistant MQTT discovery: every payload checked against HA's
// documented schema (ha-schema.ts), and on a real mosquitto with a real edge
// process: the retained configs appear, each command entity's value (as HA
// sends it, without templates) changes the daemon, the last answer is cut to
// HA's 255 characters, and turning discovery off clears what was published.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { cutToCharacters, discoveryMessages, HA_STATE_MAX } from '../../daemon/parts/homeassistant-discovery.ts';
import { configSchema } from '../../daemon/config/schema.ts';
import { HomeAssistant, toCommand } from '../../daemon/parts/homeassistant.ts';
import { encodeAnswer } from '../../protocol/answer.ts';
import { parseCommand } from '../../protocol/commands.ts';
import { parseStatus, statusBodySchema, type OnlineStatus } from '../../protocol/status.ts';
import { decodeFrame } from '../../protocol/wire/frame.ts';
import { EdgeProcess, stopAllEdges } from '../helpers/edge-process.ts';
import { edgeCase } from '../helpers/edge-case.ts';
import { Mosquitto } from '../helpers/mosquitto.ts';
import { FRAMES_DIR } from '../helpers/paths.ts';
import { waitFor } from '../helpers/wait.ts';
import { discoveryTopic, HA_SCHEMAS, type HaComponentName } from './ha-schema.ts';

const root = mkdtempSync(join(tmpdir(), 'splitoculo-ha-'));
after(() => rmSync(root, { recursive: true, force: true }));
afterEach(stopAllEdges);
const images = join(root, 'images');
mkdirSync(images);
copyFileSync(join(FRAMES_DIR, 'coffee.png'), join(images, 'coffee.png'));

const context = { discoveryPrefix: 'homeassistant', topicPrefix: 'splitoculo/v1', deviceId: 'cam.kitchen-1', name: 'Kitchen', model: 'tiny' };

function componentOf(topic: string): HaComponentName {
  return topic.split('/')[1] as HaComponentName;
}

describe('Home Assistant discovery payloads', () => {
  const messages = discoveryMessages(context);

  it('every config matches HA documented schema for its component, on a documented topic', () => {
    assert.deepEqual(messages.map((m) => componentOf(m.topic)).sort(), ['binary_sensor', 'button', 'number', 'sensor', 'sensor', 'sensor', 'switch', 'text']);
    for (const { topic, config } of messages) {
      assert.match(topic, discoveryTopic, topic);
      const result = HA_SCHEMAS[componentOf(topic)].safeParse(config);
      assert.ok(result.success, `${topic}: ${JSON.stringify(result.error?.issues)}`);
      assert.ok((config.default_entity_id as string).startsWith(`${componentOf(topic)}.`), topic);
    }
  });

  it('one device for the board; unique ids unique and stable; ids safe for a device id with a dot', () => {
    const devices = new Set(messages.map((m) => JSON.stringify(m.config.device)));
    assert.equal(devices.size, 1);
    const device = messages[0]!.config.device as Record<string, unknown>;
    assert.deepEqual(device.identifiers, ['splitoculo_cam_kitchen-1']);
    assert.equal(device.name, 'Kitchen');
    assert.equal(device.model, 'SplitOculo edge (tiny)');
    assert.equal(device.manufacturer, 'SplitOculo');
    assert.equal(typeof device.sw_version, 'string');
    const ids = messages.map((m) => m.config.unique_id);
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual(
      discoveryMessages(context).map((m) => m.config.unique_id),
      ids,
      'the same on every run',
    );
    assert.ok(messages.every((m) => m.topic.split('/')[2] === 'cam_kitchen-1'));
  });

  it('state comes from the status document or the answer state; availability from the status (the will)', () => {
    const status = 'splitoculo/v1/cam.kitchen-1/status';
    const fields = Object.keys(statusBodySchema.shape);
    for (const { topic, config } of messages) {
      const template = String(config.value_template ?? '');
      // Every status field a template reads is one the status document has.
      for (const [, field] of template.matchAll(/value_json\.get\('(\w+)'/g)) assert.ok(fields.includes(field!), `${topic} reads ${field}`);
      if (topic.includes('/connectivity/')) {
        assert.equal(config.state_topic, status);
        assert.equal(config.device_class, 'connectivity');
        assert.equal(config.availability_topic, undefined, 'connectivity shows offline instead of going unavailable');
      } else {
        assert.equal(config.availability_topic, status, topic);
        assert.deepEqual([config.payload_available, config.payload_not_available], ['online', 'offline']);
      }
    }
    const commandTopics = messages.flatMap((m) => (m.config.command_topic ? [m.config.command_topic as string] : []));
    assert.deepEqual(
      commandTopics.sort(),
      ['capture', 'interval', 'paused', 'prompt'].map((e) => `splitoculo/v1/cam.kitchen-1/ha/${e}/set`),
    );
  });

  it("HA's plain values become the daemon's commands; values that do not fit are refused by the command schema", () => {
    const parse = (entity: Parameters<typeof toCommand>[0], value: string) => parseCommand(JSON.stringify(toCommand(entity, value)));
    assert.deepEqual(parse('capture', 'PRESS'), { command: 'capture' });
    assert.deepEqual(parse('prompt', 'Any cups?'), { command: 'set-prompt', prompt: 'Any cups?' });
    assert.deepEqual(parse('prompt', ''), { command: 'set-prompt', prompt: null });
    assert.deepEqual(parse('paused', 'ON'), { command: 'pause' });
    assert.deepEqual(parse('paused', 'OFF'), { command: 'resume' });
    assert.deepEqual(parse('interval', '2.5'), { command: 'set-interval', intervalMs: 2500 });
    for (const [entity, value] of [
      ['paused', 'on'],
      ['interval', 'soon'],
      ['interval', ''],
      ['interval', '-1'],
      ['interval', '90000'],
    ] as const) {
      assert.throws(() => parse(entity, value), /command/, `${entity} ${value}`);
    }
  });

  it("cuts the answer to HA's 255 characters without splitting a character", () => {
    assert.equal(cutToCharacters('short'), 'short');
    const long = '🪙'.repeat(300);
    const cut = cutToCharacters(long);
    assert.equal(Array.from(cut).length, HA_STATE_MAX);
    assert.equal(cut, '🪙'.repeat(HA_STATE_MAX));
  });
});

describe('Home Assistant part', () => {
  function part(enabled: boolean, published: string[] = []) {
    const sent: Array<[string, string, boolean]> = [];
    const commands: string[] = [];
    let remembered = published;
    const config = configSchema.parse({
      device: { id: 'cam1' },
      model: { path: '.' },
      camera: { type: 'file', path: 'x.png' },
      outbox: { path: 'o.db' },
      mqtt: { url: 'mqtt://127.0.0.1' },
      homeassistant: { enabled },
    });
    const ha = new HomeAssistant({
      config,
      published: {
        get: () => remembered,
        set: (topics) => {
          remembered = [...topics];
        },
      },
      publish: (topic, payload, retain) => {
        sent.push([topic, payload.toString(), retain]);
        return true;
      },
      command: (payload) => commands.push(payload.toString()),
      model: () => 'tiny',
      log: { info() {}, warn() {} },
    });
    return { ha, sent, commands, remembered: () => remembered };
  }

  it('settings: off by default, prefix homeassistant; a prefix with wildcards is refused naming the path', () => {
    const base = { device: { id: 'c' }, model: { path: '.' }, camera: { type: 'file', path: 'x' }, outbox: { path: 'o' }, mqtt: { url: 'mqtt://h' } };
    const parsed = configSchema.parse(base);
    assert.deepEqual(parsed.homeassistant, { enabled: false, prefix: 'homeassistant' });
    assert.deepEqual(parsed.status, { intervalSeconds: 30, askTimeoutSeconds: 120 });
    const bad = configSchema.safeParse({ ...base, homeassistant: { prefix: 'home/#' } });
    assert.equal(bad.success, false);
    assert.deepEqual(bad.error?.issues[0]?.path, ['homeassistant', 'prefix']);
  });

  it('subscribes to its command topics and the birth topic only when enabled; HA coming online gets the configs again', () => {
    const off = part(false);
    assert.deepEqual(off.ha.topics(), []);
    off.ha.receive('splitoculo/v1/cam1/ha/paused/set', Buffer.from('ON'));
    assert.deepEqual(off.commands, [], 'disabled: HA values are ignored');
    const on = part(true);
    assert.equal(on.ha.topics().length, 5);
    assert.ok(on.ha.topics().includes('homeassistant/status'));
    on.ha.connected();
    assert.equal(on.sent.length, 8);
    assert.ok(on.sent.every(([, payload, retain]) => retain && payload.length > 0));
    assert.equal(on.remembered().length, 9, 'eight configs and the answer state');
    on.ha.receive('homeassistant/status', Buffer.from('offline'));
    assert.equal(on.sent.length, 8);
    on.ha.receive('homeassistant/status', Buffer.from('online'));
    assert.equal(on.sent.length, 16);
    on.ha.receive('splitoculo/v1/cam1/ha/paused/set', Buffer.from('ON'));
    assert.deepEqual(on.commands, ['{"command":"pause"}']);
  });

  it('clears what an earlier run published when turned off, and stale topics when enabled', () => {
    const earlier = ['homeassistant/sensor/cam1/old_entity/config', 'homeassistant/sensor/cam1/queue_depth/config'];
    const off = part(false, earlier);
    off.ha.connected();
    assert.deepEqual(
      off.sent,
      earlier.map((topic) => [topic, '', true]),
    );
    assert.deepEqual(off.remembered(), []);
    const on = part(true, earlier);
    on.ha.connected();
    assert.deepEqual(
      on.sent.filter(([, payload]) => payload === ''),
      [['homeassistant/sensor/cam1/old_entity/config', '', true]],
    );
  });
});

class Listener {
  readonly retained = new Map<string, Buffer>();
  readonly statuses: OnlineStatus[] = [];
  readonly frameIds: string[] = [];
  readonly client: MqttClient;
  constructor(client: MqttClient) {
    this.client = client;
    client.on('message', (topic, payload) => {
      if (topic.endsWith('/frame')) this.frameIds.push(decodeFrame(payload).frameId);
      else if (topic.endsWith('/status') && topic.startsWith('splitoculo/')) {
        const doc = parseStatus(payload);
        if (doc.state === 'online') this.statuses.push(doc);
      } else this.retained.set(topic, Buffer.from(payload));
    });
  }
  static async connect(url: string): Promise<Listener> {
    const client = await mqtt.connectAsync(url, { clientId: `ha-${Math.random().toString(36).slice(2, 8)}` });
    const listener = new Listener(client);
    await client.subscribeAsync(['homeassistant/#', 'splitoculo/v1/ha-cam/status', 'splitoculo/v1/ha-cam/ha/answer', 'splitoculo/v1/ha-cam/frame'], { qos: 1 });
    return listener;
  }
  configs(): string[] {
    return [...this.retained].filter(([t, p]) => t.endsWith('/config') && p.length > 0).map(([t]) => t);
  }
  waitStatus(holds: (s: OnlineStatus) => boolean, what: string): Promise<OnlineStatus> {
    return waitFor(() => this.statuses.find(holds), { what, timeoutMs: 20_000 });
  }
}

describe('Home Assistant discovery on a real broker', () => {
  let broker: Mosquitto;
  before(async () => {
    broker = await Mosquitto.start();
  });
  after(async () => broker.dispose());

  it('publishes retained configs; each command entity changes the daemon; the answer state is cut; disabling clears them', async () => {
    const ha = await Listener.connect(broker.url);
    const settings = {
      device: { id: 'ha-cam' },
      camera: { type: 'file', path: join(images, 'coffee.png') },
      capture: { intervalMs: 60_000 },
      status: { intervalSeconds: 1 },
      mqtt: { url: broker.url },
    };
    const { path, dir } = edgeCase(root, settings, { homeassistant: { enabled: true, name: 'Kitchen camera' } });
    const edge = new EdgeProcess(path);
    await waitFor(() => ha.configs().length === 8, { what: 'eight discovery configs', timeoutMs: 30_000 }).catch((e) => {
      throw new Error(`${e.message}; edge: ${JSON.stringify(edge.lines.slice(-6))} ${edge.stderr}; seen ${[...ha.retained.keys()]}`);
    });
    for (const topic of ha.configs()) {
      const config = JSON.parse(ha.retained.get(topic)!.toString());
      assert.ok(HA_SCHEMAS[componentOf(topic)].safeParse(config).success, topic);
      assert.equal(config.device.name, 'Kitchen camera');
    }
    const command = (topic: string) => JSON.parse(ha.retained.get(`homeassistant/${topic}/config`)!.toString()).command_topic as string;
    await ha.waitStatus((s) => s.captured === 1, 'the first capture');

    await ha.client.publishAsync(command('switch/ha-cam/paused'), 'ON', { qos: 1 });
    await ha.waitStatus((s) => s.paused, 'paused by the switch');
    await ha.client.publishAsync(command('text/ha-cam/prompt'), 'Any cups?', { qos: 1 });
    await ha.waitStatus((s) => s.prompt === 'Any cups?', 'prompt by the text');
    await ha.client.publishAsync(command('number/ha-cam/interval'), '2.5', { qos: 1 });
    await ha.waitStatus((s) => s.intervalMs === 2500, 'interval by the number');
    // Paused: only the button takes a picture.
    await ha.client.publishAsync(command('button/ha-cam/capture'), 'PRESS', { qos: 1 });
    const pressed = await ha.waitStatus((s) => s.captured === 2, 'a capture by the button');
    assert.equal(pressed.paused, true);
    await ha.client.publishAsync(command('switch/ha-cam/paused'), 'OFF', { qos: 1 });
    const resumed = await ha.waitStatus((s) => !s.paused && s.lastCommand?.ok === true && s.lastCommand.command === 'resume', 'resumed by the switch');
    assert.equal(resumed.prompt, 'Any cups?');
    await ha.client.publishAsync(command('number/ha-cam/interval'), 'soon', { qos: 1 });
    const refused = await ha.waitStatus((s) => s.lastCommand?.ok === false, 'a bad number refused');
    assert.equal(refused.intervalMs, 2500, 'a refused value changes nothing');

    // The last answer: state cut to 255, the full text and the prompt as attributes.
    const text = 'A cup of coffee. '.repeat(30);
    // Answered as a worker would: for a frame the board sent (the edge takes no other).
    const frameId = ha.frameIds[0]!;
    const answer = { v: 1 as const, frameId, device: 'ha-cam', modelId: null, prompt: 'Any cups?', text, timings: { totalMs: 1 }, answeredAt: new Date().toISOString() };
    await ha.client.publishAsync('splitoculo/v1/ha-cam/answer', encodeAnswer(answer), { qos: 1 });
    const state = await waitFor(() => ha.retained.get('splitoculo/v1/ha-cam/ha/answer'), { what: 'the answer state' });
    const parsed = JSON.parse(state.toString());
    assert.equal(parsed.answer, text.slice(0, 255));
    assert.deepEqual([parsed.attributes.text, parsed.attributes.prompt, parsed.attributes.frame_id], [text, 'Any cups?', frameId]);
    await edge.stop();
    assert.equal(JSON.parse(readFileSync(join(dir, 'outbox.db.state.json'), 'utf8')).homeassistant.published.length, 9);

    // Turned off: the next start clears every retained config (and the answer state), and forgets them.
    const config = JSON.parse(readFileSync(path, 'utf8'));
    config.homeassistant.enabled = false;
    writeFileSync(path, JSON.stringify(config));
    const off = new EdgeProcess(path);
    await waitFor(() => ha.configs().length === 0 && ha.retained.get('splitoculo/v1/ha-cam/ha/answer')?.length === 0, { what: 'configs cleared', timeoutMs: 30_000 });
    await off.stop();
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'outbox.db.state.json'), 'utf8')).homeassistant.published, []);
    // A new Home Assistant: retained messages come before anything published after its subscription.
    const fresh = await Listener.connect(broker.url);
    await fresh.client.publishAsync('homeassistant/barrier', 'x', { qos: 1 });
    await waitFor(() => fresh.retained.has('homeassistant/barrier'), { what: 'the barrier message' });
    assert.deepEqual(fresh.configs(), [], 'nothing retained for a new Home Assistant');
    await Promise.all([ha.client.endAsync(true), fresh.client.endAsync(true)]);
  });
});
