// The publisher against a scripted broker that withholds PUBACKs on purpose,
// with a real SQLite outbox underneath.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import mqtt from 'mqtt';
import pino from 'pino';
import { ByteBudget } from '../../daemon/link/byte-budget.ts';
import { backoffDelay, linkSettings, type LinkSettings } from '../../daemon/link/profiles.ts';
import type { Clock, Timer } from '../../daemon/link/clock.ts';
import { Publisher, type PublisherEvents, type PublisherOptions } from '../../daemon/link/publisher.ts';
import { configSchema } from '../../daemon/config/schema.ts';
import { SqliteOutbox } from '../../daemon/outbox/sqlite-outbox.ts';
import { TopicMap } from '../../protocol/topics.ts';
import { decodeFrame } from '../../protocol/wire/frame.ts';
import { parseStatus, type StatusDocument } from '../../protocol/status.ts';
import { PubackWithholdingBroker } from '../helpers/fake-broker.ts';
import { Mosquitto, freePort } from '../helpers/mosquitto.ts';
import { TcpRelay } from '../helpers/tcp-proxy.ts';
import { sampleFrame } from '../helpers/frames.ts';
import { encodeFrame } from '../../protocol/wire/frame.ts';
import { waitUntil } from '../helpers/wait.ts';
import { DEFAULT_TEST_LIMITS } from './outbox-conformance.ts';

const dir = mkdtempSync(join(tmpdir(), 'splitoculo-publisher-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const log = pino({ level: 'silent' });
let n = 0;

function fill(outbox: SqliteOutbox, count: number): number[] {
  return Array.from({ length: count }, () => {
    const id = outbox.nextIdentity();
    const bytes = encodeFrame({ ...sampleFrame({ deviceId: 'pub-cam' }), ...id });
    outbox.enqueue({ ...id, capturedAt: Date.now(), bytes });
    return id.sequence;
  });
}

function publisherFor(url: string, outbox: SqliteOutbox, link: Partial<LinkSettings>, events: Partial<PublisherEvents> = {}, extra: Pick<PublisherOptions, 'clock'> = {}) {
  const settings = configSchema.shape.mqtt.parse({ url });
  return new Publisher({
    mqtt: settings,
    deviceId: 'pub-cam',
    topics: new TopicMap(),
    outbox,
    log,
    link: { ...linkSettings(settings), backoffInitialMs: 50, backoffMaxMs: 200, ...link },
    status: () => ({ version: 'test', node: process.version, codec: 'neural', paused: false, intervalMs: 1000, prompt: null, captured: 0 }),
    events: { onPublished: () => undefined, onPublishTimeout: () => undefined, onLinkState: () => undefined, onAnswer: () => undefined, onCommand: () => undefined, ...events },
    ...extra,
  });
}

/**
 * A clock the test moves by hand, for the publisher's own timers and its
 * byte budget; mqtt.js, the sockets and the test's waits keep real time.
 */
function steppedClock(): { clock: Clock; advance(ms: number): void } {
  const epoch = Date.UTC(2026, 0, 1, 12);
  let now = 0;
  const timers = new Map<object, { at: number; fn: () => void }>();
  const clock: Clock = {
    now: () => now,
    wallNow: () => epoch + now,
    setTimeout: (fn, ms) => {
      const handle = {};
      timers.set(handle, { at: now + ms, fn });
      return handle as unknown as Timer;
    },
    clearTimeout: (handle) => timers.delete(handle as unknown as object),
  };
  const advance = (ms: number) => {
    now += ms;
    for (const [handle, timer] of [...timers].sort((a, b) => a[1].at - b[1].at)) if (timer.at <= now && timers.delete(handle)) timer.fn();
  };
  return { clock, advance };
}

/** Everything the publisher sent before this call has reached the broker once the status published now has (one connection, in order). */
async function barrier(publisher: Publisher, broker: PubackWithholdingBroker, mark: number): Promise<void> {
  publisher.publishStatus({ captured: mark });
  await waitUntil(() => broker.received.some((p) => p.topic.endsWith('/status') && JSON.parse(p.payload.toString()).captured === mark), 5000, `status ${mark}`);
}

describe('publisher', () => {
  it('sends a frame again when its PUBACK does not come, and removes it only once acknowledged', async () => {
    const broker = new PubackWithholdingBroker();
    const url = await broker.listen();
    const seen = new Set<number>();
    broker.shouldAck = (publish) => {
      if (!publish.topic.endsWith('/frame')) return true;
      const sequence = decodeFrame(publish.payload).sequence;
      const first = !seen.has(sequence);
      seen.add(sequence);
      return !first; // every frame's first publish goes unanswered
    };
    const outbox = new SqliteOutbox({ path: join(dir, `p${n++}.db`), limits: DEFAULT_TEST_LIMITS });
    const sequences = fill(outbox, 5);
    const publisher = publisherFor(url, outbox, { pubackTimeoutMs: 300, inflight: 2 });
    publisher.start();
    await waitUntil(
      () => {
        publisher.flushAcks();
        return outbox.stats().rows === 0;
      },
      15_000,
      'outbox drained',
    );
    const frames = broker.received.filter((p) => p.topic.endsWith('/frame')).map((p) => decodeFrame(p.payload).sequence);
    for (const s of sequences) assert.ok(frames.filter((f) => f === s).length >= 2, `frame ${s} sent ${frames.filter((f) => f === s).length} times`);
    await publisher.stop();
    outbox.close();
    await broker.close();
  });

  it('keeps at most `inflight` frames unacknowledged', async () => {
    const broker = new PubackWithholdingBroker();
    const url = await broker.listen();
    broker.shouldAck = (publish) => !publish.topic.endsWith('/frame');
    const outbox = new SqliteOutbox({ path: join(dir, `p${n++}.db`), limits: DEFAULT_TEST_LIMITS });
    fill(outbox, 10);
    const publisher = publisherFor(url, outbox, { pubackTimeoutMs: 60_000, inflight: 3 });
    publisher.start();
    await waitUntil(() => broker.received.filter((p) => p.topic.endsWith('/frame')).length >= 3, 5000, 'three publishes');
    // A barrier instead of a sleep: one connection delivers in order, so any frame a pump
    // would send comes before the status document published after it.
    publisher.pump();
    publisher.publishStatus({ captured: 42 });
    await waitUntil(() => broker.received.some((p) => p.topic.endsWith('/status') && JSON.parse(p.payload.toString()).captured === 42), 5000, 'the status after the pump');
    assert.equal(broker.received.filter((p) => p.topic.endsWith('/frame')).length, 3);
    assert.equal(publisher.inflight, 3);
    assert.equal(outbox.stats().rows, 10, 'nothing leaves without a PUBACK');
    await publisher.stop();
    outbox.close();
    await broker.close();
  });

  it('holds frames back for the byte budget and sends them when its wait is over (stepped clock)', async () => {
    const { clock, advance } = steppedClock();
    const broker = new PubackWithholdingBroker();
    const url = await broker.listen();
    const outbox = new SqliteOutbox({ path: join(dir, `p${n++}.db`), limits: DEFAULT_TEST_LIMITS });
    fill(outbox, 3);
    const size = outbox.peek(1, new Set())[0]!.bytes.length;
    // A burst of one and a half frames: the first goes at once, the second waits a third of a second.
    const publisher = publisherFor(url, outbox, { bytesPerSecond: size * 1.5 }, {}, { clock });
    const frames = () => broker.received.filter((p) => p.topic.endsWith('/frame')).length;
    try {
      publisher.start();
      await waitUntil(() => frames() === 1, 5000, 'the first frame');
      await barrier(publisher, broker, 1);
      assert.equal(frames(), 1, 'the second frame waits for the budget');
      advance(333);
      publisher.pump();
      await barrier(publisher, broker, 2);
      assert.equal(frames(), 1, 'not one ms early (the wait is ceil(size / 2 / rate) = 334 ms)');
      advance(1);
      await waitUntil(() => frames() === 2, 5000, 'the second frame, woken by the budget');
      await barrier(publisher, broker, 3);
      assert.equal(frames(), 2);
      advance(1000);
      await waitUntil(() => frames() === 3, 5000, 'the third frame');
    } finally {
      await publisher.stop();
      outbox.close();
      await broker.close();
    }
  });

  it('reconnects after the broker drops the connection and sends the unacknowledged frames again', async () => {
    const broker = new PubackWithholdingBroker();
    const url = await broker.listen();
    let withhold = true;
    broker.shouldAck = (publish) => !(publish.topic.endsWith('/frame') && withhold);
    const outbox = new SqliteOutbox({ path: join(dir, `p${n++}.db`), limits: DEFAULT_TEST_LIMITS });
    const sequences = fill(outbox, 4);
    const publisher = publisherFor(url, outbox, { pubackTimeoutMs: 60_000, inflight: 8 });
    publisher.start();
    await waitUntil(() => broker.received.filter((p) => p.topic.endsWith('/frame')).length >= 4, 5000, 'first round');
    withhold = false;
    broker.dropConnections(); // the link dies with four frames unacknowledged
    assert.equal(outbox.stats().rows, 4);
    await waitUntil(
      () => {
        publisher.flushAcks();
        return outbox.stats().rows === 0;
      },
      10_000,
      'drained after reconnecting',
    );
    assert.ok(publisher.reconnects >= 1);
    const acked = broker.received.filter((p) => p.acked && p.topic.endsWith('/frame')).map((p) => decodeFrame(p.payload).sequence);
    assert.deepEqual(
      [...new Set(acked)].sort((a, b) => a - b),
      sequences,
    );
    await publisher.stop();
    outbox.close();
    await broker.close();
  });
});

describe('publisher against mosquitto', () => {
  it('retained status online at connect, offline at stop, the will when the link dies; answers and commands handed over; reconnects', async () => {
    const broker = await Mosquitto.start();
    const relay = new TcpRelay(await freePort(), broker.port);
    await relay.open();
    const watcher = await mqtt.connectAsync(broker.url, { clientId: 'pub-watcher', reconnectPeriod: 0 });
    const statuses: StatusDocument[] = [];
    const frames: number[] = [];
    watcher.on('message', (topic, payload) => {
      if (topic.endsWith('/status'))
        statuses.push(parseStatus(payload)); // schema-checked (protocol/status.ts)
      else frames.push(decodeFrame(payload).sequence);
    });
    await watcher.subscribeAsync(['splitoculo/v1/pub-cam/status', 'splitoculo/v1/pub-cam/frame'], { qos: 1 });
    const outbox = new SqliteOutbox({ path: join(dir, `p${n++}.db`), limits: DEFAULT_TEST_LIMITS });
    const sequences = fill(outbox, 3);
    const answers: string[] = [];
    const commands: string[] = [];
    const linkStates: boolean[] = [];
    const publisher = publisherFor(
      relay.url,
      outbox,
      {},
      {
        onAnswer: (payload) => answers.push(payload.toString()),
        onCommand: (payload) => commands.push(payload.toString()),
        onLinkState: (up) => linkStates.push(up),
      },
    );
    try {
      publisher.start();
      await waitUntil(() => statuses.at(-1)?.state === 'online', 5000, 'online status');
      await waitUntil(
        () => {
          publisher.flushAcks();
          return outbox.stats().rows === 0;
        },
        5000,
        'outbox drained',
      );
      assert.deepEqual(frames, sequences);
      await watcher.publishAsync('splitoculo/v1/pub-cam/answer', 'answer-1', { qos: 1 });
      await watcher.publishAsync('splitoculo/v1/pub-cam/command', 'command-1', { qos: 1 });
      await waitUntil(() => answers.length === 1 && commands.length === 1, 5000, 'answer and command handed over');
      assert.deepEqual([answers, commands], [['answer-1'], ['command-1']]);

      await relay.close(); // the link dies: the broker publishes the will
      await waitUntil(() => statuses.at(-1)?.state === 'offline' && !publisher.connected, 5000, 'the will');
      assert.deepEqual(statuses.at(-1), { state: 'offline', device: 'pub-cam' }, 'the will carries no time');
      await relay.open();
      await waitUntil(() => statuses.at(-1)?.state === 'online', 10_000, 'online again after reconnecting');
      assert.ok(publisher.reconnects >= 1);

      await publisher.stop();
      await waitUntil(() => statuses.at(-1)?.state === 'offline', 5000, 'offline status at stop');
      assert.ok(statuses.at(-1)?.state === 'offline' && statuses.at(-1)?.at !== undefined, 'a clean stop says when');
      assert.deepEqual(linkStates, [true, false, true, false]);
    } finally {
      await publisher.stop();
      outbox.close();
      await watcher.endAsync(true);
      await relay.close();
      await broker.dispose();
    }
  });
});

describe('link settings', () => {
  it('backoff is full jitter under an exponential ceiling', () => {
    assert.equal(
      backoffDelay(0, 100, 10_000, () => 0.999999),
      100,
    );
    assert.equal(
      backoffDelay(3, 100, 10_000, () => 0.5),
      400,
    );
    assert.equal(
      backoffDelay(20, 100, 10_000, () => 1),
      10_000,
    );
    assert.equal(
      backoffDelay(5, 100, 10_000, () => 0),
      0,
    );
  });

  it('presets fill what the config leaves out', () => {
    const ble = linkSettings(configSchema.shape.mqtt.parse({ url: 'mqtt://x', link: 'ble', inflight: 2 }));
    assert.equal(ble.inflight, 2);
    assert.equal(ble.keepaliveSeconds, 60);
    assert.equal(linkSettings(configSchema.shape.mqtt.parse({ url: 'mqtt://x', link: 'cellular' })).backoffMaxMs, 300_000);
  });

  it('the byte budget delays, per second and per day, and never refuses', () => {
    let now = 1_000_000_000;
    const budget = new ByteBudget(6000, 20_000, () => now);
    assert.equal(budget.delayFor(3231), 0);
    budget.spend(3231);
    const wait = budget.delayFor(3231); // 2,769 bytes left in the bucket
    assert.ok(wait > 0 && wait <= 1000, `${wait} ms`);
    now += wait;
    assert.equal(budget.delayFor(3231), 0);
    budget.spend(3231);
    for (let i = 0; i < 4; i++) {
      now += 1000;
      assert.equal(budget.delayFor(3231), 0);
      budget.spend(3231);
    }
    assert.equal(budget.usedToday, 6 * 3231);
    const untilTomorrow = budget.delayFor(3231);
    assert.ok(untilTomorrow > 1000, 'daily budget spent: wait for the next UTC day');
    now += untilTomorrow;
    assert.equal(budget.delayFor(3231), 0);
  });
});
