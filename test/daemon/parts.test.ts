// The edge's parts one by one, with injected fakes where a real part would
// need a broker: the controller's order, the command handler, the answer
// inbox, the status reporter, the watchdog rule and the capture part's
// handling of commands that arrive before its camera is open. Real SQLite
// for the outbox part, real metrics everywhere.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { validateConfig } from '../../daemon/config/load.ts';
import { CommandHandler, type CommandTargets } from '../../daemon/control/command-handler.ts';
import { PartController } from '../../daemon/controller.ts';
import { EdgeMetrics } from '../../daemon/ops/metrics.ts';
import { Progress, Watchdog } from '../../daemon/ops/watchdog.ts';
import { AnswerInbox } from '../../daemon/parts/answer-inbox.ts';
import { ExpectedAnswers } from '../../daemon/control/expected-answers.ts';
import { CapturePart } from '../../daemon/parts/capture.ts';
import { FrameProduction, type ProducedFrame } from '../../daemon/parts/frame-production.ts';
import { OutboxPart } from '../../daemon/parts/outbox-part.ts';
import { statusReporter } from '../../daemon/parts/status-reporter.ts';
import type { CapturedImage, FrameSource } from '../../daemon/sources/source.ts';
import { AnswerError, type AnswerEnvelope } from '../../protocol/answer.ts';
import { onlineStatus, type LastCommand } from '../../protocol/status.ts';
import { decodeFrame } from '../../protocol/wire/frame.ts';
import { verifyFrame } from '../../protocol/wire/frame-auth.ts';
import { FRAMES_DIR, TINY_MODEL_DIR } from '../helpers/paths.ts';
import { waitUntil } from '../helpers/wait.ts';

const quiet = pino({ level: 'silent' });
const root = mkdtempSync(join(tmpdir(), 'splitoculo-parts-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function counter(metrics: EdgeMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = (metric?.values as Array<{ value: number; labels: Record<string, string> }> | undefined)?.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return value?.value ?? 0;
}

function config(overrides: Record<string, unknown> = {}) {
  return validateConfig({
    device: { id: 'parts-cam' },
    model: { path: '/nonexistent' },
    camera: { type: 'directory', path: '/nonexistent' },
    outbox: { path: join(root, `outbox-${Math.random().toString(36).slice(2)}.db`) },
    mqtt: { url: 'mqtt://127.0.0.1:1' },
    ...overrides,
  });
}

describe('part controller', () => {
  function recorder(events: string[], name: string, fail?: 'start' | 'stop') {
    return {
      name,
      part: {
        start: async () => {
          events.push(`start ${name}`);
          if (fail === 'start') throw new Error(`${name} cannot start`);
        },
        stop: async () => {
          events.push(`stop ${name}`);
          if (fail === 'stop') throw new Error(`${name} cannot stop`);
        },
      },
    };
  }

  it('starts in list order and stops in reverse, once', async () => {
    const events: string[] = [];
    const controller = new PartController(
      ['a', 'b', 'c'].map((n) => recorder(events, n)),
      quiet,
    );
    await controller.start();
    assert.deepEqual(controller.running, ['a', 'b', 'c']);
    await Promise.all([controller.stop(), controller.stop()]);
    assert.deepEqual(events, ['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
    assert.deepEqual(controller.running, []);
  });

  it('a failed start stops what started (last first), starts nothing more and passes the error on', async () => {
    const events: string[] = [];
    const controller = new PartController([recorder(events, 'a'), recorder(events, 'b'), recorder(events, 'c', 'start'), recorder(events, 'd')], quiet);
    await assert.rejects(controller.start(), /c cannot start/);
    assert.deepEqual(events, ['start a', 'start b', 'start c', 'stop b', 'stop a']);
  });

  it('a failing stop does not keep the others from stopping', async () => {
    const events: string[] = [];
    const errors: unknown[] = [];
    const log = { error: (o: unknown) => errors.push(o) } as unknown as typeof quiet;
    const controller = new PartController([recorder(events, 'a'), recorder(events, 'b', 'stop'), recorder(events, 'c')], log);
    await controller.start();
    await controller.stop();
    assert.deepEqual(events.slice(3), ['stop c', 'stop b', 'stop a']);
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as { part: string }).part, 'b');
  });

  it('stop during start waits for the part being started, starts no further part, and stops the started ones', async () => {
    const events: string[] = [];
    let release!: () => void;
    const slow = {
      name: 'slow',
      part: {
        start: () =>
          new Promise<void>(
            (r) =>
              (release = () => {
                events.push('start slow');
                r();
              }),
          ),
        stop: () => void events.push('stop slow'),
      },
    };
    const controller = new PartController([recorder(events, 'a'), slow, recorder(events, 'c')], quiet);
    const starting = controller.start();
    await waitUntil(() => release !== undefined, 1000, 'slow part starting');
    const stopping = controller.stop();
    release();
    await Promise.all([starting, stopping]);
    assert.deepEqual(events, ['start a', 'start slow', 'stop slow', 'stop a']);
  });
});

describe('command handler', () => {
  function handler() {
    const applied: string[] = [];
    const targets: CommandTargets = {
      setPrompt: (p) => applied.push(`prompt ${p}`),
      capture: () => applied.push('capture'),
      pause: () => applied.push('pause'),
      resume: () => applied.push('resume'),
      setInterval: (ms) => applied.push(`interval ${ms}`),
      ask: (prompt, id) => {
        applied.push(`ask ${id} ${prompt}`);
        return applied.some((a) => a.startsWith('ask ') && !a.endsWith(prompt)) ? 'an ask is pending (id first)' : null;
      },
      preview: () => {
        applied.push('preview');
        return null;
      },
    };
    const metrics = new EdgeMetrics();
    let changes = 0;
    const commands = new CommandHandler({ targets, metrics, log: quiet, changed: () => changes++, now: () => new Date('2026-03-04T05:06:07.000Z') });
    return { commands, applied, metrics, changes: () => changes };
  }

  it('applies each command, remembers it with its id, and republishes the status each time', async () => {
    const { commands, applied, metrics, changes } = handler();
    for (const c of [{ command: 'set-prompt', prompt: 'Who?' }, { command: 'capture' }, { command: 'pause' }, { command: 'resume' }, { command: 'set-interval', intervalMs: 250, id: 'op-7' }]) {
      commands.receive(Buffer.from(JSON.stringify(c)));
    }
    assert.deepEqual(applied, ['prompt Who?', 'capture', 'pause', 'resume', 'interval 250']);
    assert.deepEqual(commands.lastCommand, { ok: true, command: 'set-interval', id: 'op-7', at: '2026-03-04T05:06:07.000Z' });
    assert.equal(changes(), 5);
    assert.equal(await counter(metrics, 'splitoculo_commands_total', { outcome: 'applied' }), 5);
  });

  it('a malformed command changes nothing, is counted, and is reported with its reason', async () => {
    const { commands, applied, metrics, changes } = handler();
    commands.receive(Buffer.from('{"command":"self-destruct"}'));
    commands.receive(Buffer.from('not json'));
    assert.deepEqual(applied, []);
    assert.equal(commands.lastCommand?.ok, false);
    assert.match((commands.lastCommand as Extract<LastCommand, { ok: false }>).error, /^command: not JSON/);
    assert.equal(changes(), 2);
    assert.equal(await counter(metrics, 'splitoculo_commands_total', { outcome: 'invalid' }), 2);
  });

  it('ask and preview reach their targets; a refusal names the command, its id and the reason, and counts as refused', async () => {
    const { commands, applied, metrics, changes } = handler();
    commands.receive(Buffer.from(JSON.stringify({ command: 'ask', prompt: 'Door open?', id: 'first' })));
    assert.deepEqual(commands.lastCommand, { ok: true, command: 'ask', id: 'first', at: '2026-03-04T05:06:07.000Z' });
    commands.receive(Buffer.from(JSON.stringify({ command: 'ask', prompt: 'Cat?', id: 'second' })));
    assert.deepEqual(commands.lastCommand, { ok: false, command: 'ask', id: 'second', error: 'an ask is pending (id first)', at: '2026-03-04T05:06:07.000Z' });
    commands.receive(Buffer.from(JSON.stringify({ command: 'preview' })));
    assert.deepEqual(applied, ['ask first Door open?', 'ask second Cat?', 'preview']);
    assert.equal(changes(), 3);
    assert.equal(await counter(metrics, 'splitoculo_commands_total', { outcome: 'refused' }), 1);
    assert.equal(await counter(metrics, 'splitoculo_commands_total', { outcome: 'applied' }), 2);
  });
});

describe('answer inbox', () => {
  const frameId = '01900000-0000-7000-8000-000000000001';
  const answer: AnswerEnvelope = {
    v: 1,
    frameId,
    device: 'parts-cam',
    modelId: '0123456789abcdef0123456789abcdef',
    sequence: 1,
    prompt: null,
    text: 'a cat',
    tokens: 3,
    timings: { totalMs: 5 },
    answeredAt: '2026-01-01T00:00:00.000Z',
  };

  function inbox() {
    const stored = new Map<string, string>();
    const hooked: AnswerEnvelope[] = [];
    const metrics = new EdgeMetrics();
    const expected = new ExpectedAnswers();
    expected.sent(frameId);
    const box = new AnswerInbox({
      deviceId: 'parts-cam',
      expected,
      metrics,
      log: quiet,
      store: (id, json) => {
        if (stored.has(id)) return false;
        stored.set(id, json);
        return true;
      },
      hook: (a) => hooked.push(a),
    });
    return { box, stored, hooked, metrics };
  }

  it('stores an answer once per frame and runs the hook once', async () => {
    const { box, stored, hooked, metrics } = inbox();
    box.receive(Buffer.from(JSON.stringify(answer)));
    box.receive(Buffer.from(JSON.stringify(answer)));
    assert.equal(stored.size, 1);
    assert.deepEqual(JSON.parse(stored.get(frameId)!), answer);
    assert.equal(hooked.length, 1);
    assert.equal(await counter(metrics, 'splitoculo_answers_total', { outcome: 'stored' }), 1);
    assert.equal(await counter(metrics, 'splitoculo_answers_total', { outcome: 'duplicate' }), 1);
  });

  it("refuses bad input and other devices' answers with AnswerError, counts them, stores nothing", async () => {
    const { box, stored, hooked, metrics } = inbox();
    assert.throws(() => box.receive(Buffer.from('{"not":"an answer"}')), AnswerError);
    assert.throws(
      () => box.receive(Buffer.from(JSON.stringify({ ...answer, device: 'other-cam' }))),
      (e: unknown) => e instanceof AnswerError && /other-cam/.test(e.message),
    );
    assert.equal(stored.size + hooked.length, 0);
    assert.equal(await counter(metrics, 'splitoculo_answers_total', { outcome: 'invalid' }), 2);
  });

  it('an error answer for a frame the cloud could not read is counted, not stored', async () => {
    const { box, stored, metrics } = inbox();
    const { text: _text, tokens: _tokens, ...rest } = answer;
    box.receive(Buffer.from(JSON.stringify({ ...rest, frameId: null, modelId: null, error: { code: 'bad-frame', message: 'crc' } })));
    assert.equal(stored.size, 0);
    assert.equal(await counter(metrics, 'splitoculo_answers_total', { outcome: 'unreadable-frame' }), 1);
  });
});

describe('status reporter', () => {
  it('builds a body the status schema accepts, before the parts run and after', () => {
    const sources = {
      codec: 'auto' as const,
      modelId: () => undefined as string | undefined,
      link: () => undefined as ReturnType<Parameters<typeof statusReporter>[0]['link']>,
      capture: () => ({ paused: true, intervalMs: 1000, captures: 0 }),
      prompt: () => null as string | null,
      queue: () => undefined as ReturnType<Parameters<typeof statusReporter>[0]['queue']>,
      lastCommand: () => null as LastCommand | null,
    };
    const before = onlineStatus('parts-cam', statusReporter(sources)());
    assert.equal(before.queue, undefined);
    assert.equal(before.modelId, undefined);
    const running = statusReporter({
      ...sources,
      modelId: () => 'ffffffffffffffffffffffffffffffff',
      link: () => ({ rttMs: 4, bytesPerSecond: undefined, samples: 1 }),
      capture: () => ({ paused: false, intervalMs: 500, captures: 12 }),
      prompt: () => 'How many?',
      queue: () => ({ rows: 3, bytes: 9000, oldestCapturedAt: 1, evicted: { 'drop-oldest': 2, 'drop-newest': 0, ttl: 0 }, rejected: 0, answers: 1, lastSequence: 15 }),
      lastCommand: () => ({ ok: true, command: 'resume', at: '2026-01-01T00:00:00.000Z' }),
    })();
    const doc = onlineStatus('parts-cam', running);
    assert.deepEqual(doc.queue, { frames: 3, bytes: 9000, evicted: { 'drop-oldest': 2, 'drop-newest': 0, ttl: 0 }, rejected: 0 });
    assert.equal(doc.captured, 12);
    assert.equal(doc.prompt, 'How many?');
    assert.deepEqual(JSON.parse(JSON.stringify(doc.link)), { rttMs: 4, samples: 1 }, 'an unknown rate is left out on the wire');
  });
});

describe('watchdog', () => {
  it('pings only while the pipeline progresses (or rests), ready first, STOPPING before the pings stop', () => {
    let now = 1_000_000;
    const calls: string[] = [];
    let healthy: (() => boolean) | null = null;
    const notifier = {
      ready: (s: string) => calls.push(`ready ${s}`),
      startWatchdog: (h: () => boolean) => {
        healthy = h;
        calls.push('watchdog');
      },
      stopping: () => calls.push('stopping'),
      stop: () => calls.push('stop'),
    };
    const progress = new Progress(() => now);
    let resting = false;
    let intervalMs = 1000;
    const watchdog = new Watchdog({ notifier, progress, resting: () => resting, intervalMs: () => intervalMs, readyStatus: () => 'queued 0 frames' });
    watchdog.start();
    assert.deepEqual(calls, ['ready queued 0 frames', 'watchdog']);
    now += 59_000;
    assert.equal(healthy!(), true);
    now += 2_000;
    assert.equal(healthy!(), false, 'a minute without progress');
    resting = true;
    assert.equal(healthy!(), true, 'paused or finished: nothing is expected');
    resting = false;
    intervalMs = 20_000;
    assert.equal(healthy!(), true, 'five intervals of 20 s are allowed');
    progress.mark();
    intervalMs = 1000;
    assert.equal(healthy!(), true);
    watchdog.stop();
    assert.deepEqual(calls.slice(2), ['stopping', 'stop']);
  });
});

class FakeCamera implements FrameSource {
  readonly name = 'fake';
  readonly live = true;
  exhausted = false;
  grabbed = 0;
  stopped = false;
  async start() {}
  async stop() {
    this.stopped = true;
  }
  async grab(): Promise<CapturedImage> {
    this.grabbed += 1;
    return { bytes: Buffer.from([this.grabbed]), capturedAt: this.grabbed, label: `image ${this.grabbed}` };
  }
}

describe('capture part', () => {
  it('keeps a command that arrives before the camera opens, and acts on it once it does', async () => {
    const camera = new FakeCamera();
    const committed: number[] = [];
    const capture = new CapturePart<number>({
      config: config({ capture: { paused: true, intervalMs: 1000 } }),
      metrics: new EdgeMetrics(),
      log: quiet,
      stages: { prepare: async (image) => image.capturedAt, commit: async (n) => void committed.push(n) },
      source: () => camera,
    });
    capture.tick(); // the operator's "capture", before start
    capture.setInterval(0);
    assert.equal(camera.grabbed, 0);
    await capture.start();
    await waitUntil(() => committed.length === 1, 2000, 'the commanded frame');
    assert.equal(capture.intervalMs, 0);
    assert.equal(capture.paused, true);
    capture.resume(); // interval 0: as fast as the stages go
    await waitUntil(() => committed.length >= 5, 2000, 'continuous capture');
    capture.pause();
    await capture.stop();
    const after = committed.length;
    capture.tick();
    await new Promise((r) => setImmediate(r));
    assert.equal(committed.length, after, 'nothing after stop');
    assert.equal(camera.stopped, true);
    assert.deepEqual(
      committed,
      committed.toSorted((a, b) => a - b),
    );
  });
});

describe('outbox part', () => {
  function frame(sequence: number, frameId: string): ProducedFrame {
    return { sequence, frameId, capturedAt: Date.now(), label: `f${sequence}`, bytes: new Uint8Array(100), codec: 'neural', signed: false, timings: { preprocessMs: 1, encodeMs: 2, quantiseMs: 0.1 } };
  }

  it('commits each frame, counts it, wakes the publisher, and counts refusals by the bound instead of throwing', async () => {
    const metrics = new EdgeMetrics();
    let wakes = 0;
    const part = new OutboxPart({ config: config({ outbox: { path: join(root, 'bound.db'), maxFrames: 2, policy: 'reject' } }), metrics, log: quiet, progress: new Progress(), wake: () => wakes++ });
    part.start();
    try {
      for (let i = 0; i < 3; i++) {
        const id = part.nextIdentity();
        part.accept(frame(id.sequence, id.frameId));
      }
      assert.equal(wakes, 3);
      assert.equal(part.outbox.stats().rows, 2);
      assert.equal(part.backlogBytes(), 200);
      assert.equal(await counter(metrics, 'splitoculo_frames_queued_total'), 2);
      assert.equal(await counter(metrics, 'splitoculo_frames_dropped_total', { reason: 'outbox-full' }), 1);
      assert.equal(await counter(metrics, 'splitoculo_queue_frames'), 2);
    } finally {
      part.stop();
    }
    assert.equal(part.open, false);
    assert.equal(part.backlogBytes(), 0);
  });
});

describe('frame production (the tiny model)', () => {
  it('prepares, encodes with the configured codec, signs, stamps the identity, and hands the frame on; a corrupt image is counted', async () => {
    const keyFile = join(root, 'device.key');
    const key = Buffer.alloc(32, 7);
    writeFileSync(keyFile, key.toString('hex'), { mode: 0o600 });
    const metrics = new EdgeMetrics();
    const produced: ProducedFrame[] = [];
    let sequence = 40;
    const production = new FrameProduction({
      config: config({ model: { path: TINY_MODEL_DIR, threads: 1 }, encoding: { codec: 'jpeg', jpegQuality: 60 }, auth: { keyFile }, capture: { prompt: 'What is this?' } }),
      metrics,
      log: quiet,
      progress: new Progress(),
      identity: () => ({ sequence: ++sequence, frameId: `01900000-0000-7000-8000-0000000000${sequence}` }),
      clockUnreliable: () => true,
      linkView: () => ({ link: { rttMs: undefined, bytesPerSecond: undefined, samples: 0 }, backlogBytes: 0 }),
      next: (frame) => produced.push(frame),
    });
    await production.start();
    try {
      assert.match(production.modelId!, /^[0-9a-f]{32}$/);
      const image = { bytes: readFileSync(join(FRAMES_DIR, 'coffee.png')), capturedAt: 1234, label: 'coffee.png' };
      const prepared = await production.prepare(image);
      assert.ok(prepared);
      await production.commit(prepared);
      production.prompt = null; // an operator's set-prompt reaches the next frame
      await production.commit((await production.prepare(image))!);
      assert.equal(await production.prepare({ bytes: readFileSync(join(FRAMES_DIR, 'truncated.jpg')), capturedAt: 1, label: 'truncated.jpg' }), null);
      // An ask's image replaced by a newer one before its commit (a live camera): the newer one carries the ask.
      production.requestNext({ prompt: 'Door?', requestId: 'r-1' });
      const asked = (await production.prepare(image))!;
      const newer = (await production.prepare(image))!;
      assert.deepEqual([asked.request?.requestId, newer.request], ['r-1', undefined]);
      assert.equal(production.supersede(asked, newer).request?.requestId, 'r-1');
      assert.equal(production.supersede(newer, asked), asked, 'a replacement that has a request keeps its own');
      assert.equal(production.supersede(newer, newer).request, undefined);

      assert.equal(produced.length, 2);
      const [first, second] = produced as [ProducedFrame, ProducedFrame];
      assert.equal(first.codec, 'jpeg');
      assert.ok(verifyFrame(first.bytes, key), 'signed with the device key');
      const header = decodeFrame(first.bytes);
      assert.equal(header.codec, 'jpeg');
      assert.deepEqual([header.sequence, header.frameId, header.deviceId, header.prompt, header.clockUnreliable, header.captureTimeMs], [41, first.frameId, 'parts-cam', 'What is this?', true, 1234]);
      assert.equal(decodeFrame(second.bytes).prompt, null);
      assert.equal(await counter(metrics, 'splitoculo_frames_by_codec_total', { codec: 'jpeg' }), 2);
      assert.equal(await counter(metrics, 'splitoculo_frames_dropped_total', { reason: 'corrupt-image' }), 1);
    } finally {
      await production.stop();
    }
  });
});
