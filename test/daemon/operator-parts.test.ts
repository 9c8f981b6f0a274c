// The operator-facing parts on their own: the pending ask and its timeout,
// the ask's picture (tried again, or failed) and the status refresh on mocked time, the state file, the ask's targets, and
// the preview's size bound on the hardest image there is (noise).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it, mock } from 'node:test';
import sharp from 'sharp';
import { AskTracker } from '../../daemon/control/ask-tracker.ts';
import { commandTargets } from '../../daemon/control/command-targets.ts';
import { urgentFirst } from '../../daemon/outbox/urgent-first.ts';
import { SqliteOutbox } from '../../daemon/outbox/sqlite-outbox.ts';
import { makePreview } from '../../daemon/parts/preview.ts';
import { type Settings, StateStore } from '../../daemon/parts/state-store.ts';
import { StatusRefresh } from '../../daemon/parts/status-refresh.ts';
import { ASK_ATTEMPTS, AskPicture, EMPTY_RETRY_MS, EMPTY_WAIT_MS } from '../../daemon/parts/ask-picture.ts';
import type { AnswerEnvelope } from '../../protocol/answer.ts';
import { PREVIEW_MAX_BYTES, PREVIEW_MAX_SIDE } from '../../protocol/limits.ts';

const work = mkdtempSync(join(tmpdir(), 'splitoculo-operator-'));
after(() => rmSync(work, { recursive: true, force: true }));
afterEach(() => mock.timers.reset());

const warnings: unknown[] = [];
const log = { warn: (o: unknown) => warnings.push(o) };
const answer = (requestId: string | undefined, error = false): AnswerEnvelope => ({
  v: 1,
  frameId: '01900000-0000-7000-8000-000000000001',
  device: 'cam',
  modelId: null,
  prompt: 'x',
  ...(requestId !== undefined && { requestId }),
  ...(error ? { error: { code: 'answerer-failed', message: 'm' } } : { text: 't' }),
  timings: { totalMs: 1 },
  answeredAt: '2026-01-01T00:00:00.000Z',
});

describe('pending ask', () => {
  it('one at a time; ends with its own answer only; times out on the clock', () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
    let changes = 0;
    const asks = new AskTracker({ timeoutMs: 120_000, changed: () => changes++ });
    assert.equal(asks.begin('a', 'Door?'), null);
    assert.deepEqual(asks.pending, { id: 'a', prompt: 'Door?', since: '1970-01-01T00:00:00.000Z' });
    assert.equal(asks.begin('b', 'Cat?'), 'an ask is pending (id a)');
    assert.equal(asks.answered(answer(undefined)), false, 'a scheduled frame does not end it');
    assert.equal(asks.answered(answer('other')), false);
    assert.equal(asks.pending?.id, 'a');
    assert.equal(changes, 0);
    mock.timers.tick(119_999);
    assert.equal(asks.pending?.id, 'a');
    mock.timers.tick(1);
    assert.equal(asks.pending, null);
    assert.deepEqual(asks.last, { id: 'a', outcome: 'timed-out', at: '1970-01-01T00:02:00.000Z' });
    assert.equal(changes, 1);
    assert.equal(asks.answered(answer('a')), false, 'a late answer changes nothing');

    assert.equal(asks.begin('b', 'Cat?'), null);
    assert.equal(asks.answered(answer('b', true)), true);
    assert.equal(asks.last?.outcome, 'failed', 'an error answer ends it as failed');
    mock.timers.tick(200_000);
    assert.equal(changes, 2, 'the answered ask has no timer left');
  });

  it('an ask with no image is refused and ends at once; otherwise its request goes to frame production', () => {
    const asks = new AskTracker({ timeoutMs: 1000, changed: () => {} });
    const requests: string[] = [];
    let cancelled = '';
    let canCapture = false;
    let onFrame = false;
    const frames = {
      prompt: null,
      requestNext: (r: { requestId: string }) => requests.push(r.requestId),
      cancelRequest: (id: string) => {
        cancelled = id;
        return !onFrame;
      },
    };
    let later: (() => void) | null = null;
    const capture = {
      captureNow: (failed: () => void) => {
        later = failed;
        return canCapture;
      },
      tick() {},
      pause() {},
      resume() {},
      setInterval() {},
    };
    const targets = commandTargets({ frames, capture, asks, preview: { request: () => null }, remember: () => {} });
    assert.equal(targets.ask('Door?', 'a'), 'no image to capture: the camera has produced none');
    assert.equal(cancelled, 'a');
    assert.deepEqual([asks.pending, asks.last?.outcome], [null, 'failed']);
    canCapture = true;
    assert.equal(targets.ask('Door?', 'b'), null);
    assert.deepEqual(requests, ['a', 'b']);
    assert.equal(asks.pending?.id, 'b');
    // No picture could be prepared for it after all: the request is withdrawn and the ask ends now.
    later!();
    assert.equal(cancelled, 'b');
    assert.deepEqual([asks.pending, asks.last?.id, asks.last?.outcome], [null, 'b', 'failed']);
    // A late failure once a frame carries the request (nothing left to withdraw) does not end the ask: its answer will.
    onFrame = true;
    assert.equal(targets.ask('Door?', 'c'), null);
    later!();
    assert.equal(asks.pending?.id, 'c');
    asks.stop();
  });
});

describe("the ask's picture", () => {
  const picture = (canTake = () => true) => {
    const events = { takes: 0, failures: 0 };
    const ask = new AskPicture({ take: () => events.takes++, canTake });
    return { ask, events, begin: () => ask.begin(() => events.failures++) };
  };

  it('the first image prepared serves it; an image that prepares nothing takes another, up to ASK_ATTEMPTS, then fails once', () => {
    const served = picture();
    served.begin();
    served.ask.prepared(true);
    served.ask.prepared(false); // a later frame's failure is not the ask's
    assert.deepEqual(served.events, { takes: 1, failures: 0 });
    assert.equal(served.ask.waiting, false);

    const missed = picture();
    missed.begin();
    for (let i = 1; i < ASK_ATTEMPTS; i++) missed.ask.prepared(false);
    assert.deepEqual(missed.events, { takes: ASK_ATTEMPTS, failures: 0 });
    missed.ask.prepared(false);
    assert.deepEqual(missed.events, { takes: ASK_ATTEMPTS, failures: 1 });
    missed.ask.prepared(false);
    missed.ask.prepared(true);
    assert.deepEqual(missed.events, { takes: ASK_ATTEMPTS, failures: 1 }, 'failed once, and nothing after');
  });

  it('fails at once when no picture can be taken any more (a replay over without a good image)', () => {
    let more = true;
    const ended = picture(() => more);
    ended.begin();
    more = false;
    ended.ask.prepared(false);
    assert.deepEqual(ended.events, { takes: 1, failures: 1 });
  });

  it('a camera with nothing new is asked again every EMPTY_RETRY_MS on mocked time, until served or EMPTY_WAIT_MS', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    const live = picture();
    live.begin();
    live.ask.empty();
    live.ask.empty(); // one retry at a time
    mock.timers.tick(EMPTY_RETRY_MS - 1);
    assert.equal(live.events.takes, 1);
    mock.timers.tick(1);
    assert.equal(live.events.takes, 2);
    live.ask.empty();
    live.ask.prepared(true);
    mock.timers.tick(EMPTY_RETRY_MS * 4);
    assert.deepEqual(live.events, { takes: 2, failures: 0 }, 'served: the pending retry is cancelled');

    const dead = picture();
    dead.begin();
    for (let waited = 0; dead.events.failures === 0 && waited <= EMPTY_WAIT_MS * 2; waited += EMPTY_RETRY_MS) {
      dead.ask.empty();
      mock.timers.tick(EMPTY_RETRY_MS);
    }
    assert.equal(dead.events.failures, 1);
    assert.equal(dead.events.takes, 1 + EMPTY_WAIT_MS / EMPTY_RETRY_MS, 'asked again for EMPTY_WAIT_MS, then failed');
    assert.equal(dead.ask.waiting, false);

    // A retry due when no picture can be taken any more (a live camera's maxFrames reached, none of them good): failed, not taken.
    let more = true;
    const ending = picture(() => more);
    ending.begin();
    ending.ask.empty();
    more = false;
    mock.timers.tick(EMPTY_RETRY_MS);
    assert.deepEqual(ending.events, { takes: 1, failures: 1 });
  });
});

describe('urgent frames first', () => {
  it("an ask's frame heads peek until acknowledged; the outbox's own order otherwise; durability is the outbox's", () => {
    const inner = new SqliteOutbox({ path: join(work, 'urgent.db'), limits: { maxRows: 100, maxBytes: 1e6, ttlMs: 0, policy: 'drop-oldest', maxAnswers: 10 } });
    const outbox = urgentFirst(inner);
    const add = () => {
      const { sequence, frameId } = outbox.nextIdentity();
      const frame = { sequence, frameId, capturedAt: Date.now(), bytes: Uint8Array.of(sequence) };
      outbox.enqueue(frame);
      return { ...frame, attempts: 0 };
    };
    for (let i = 0; i < 5; i++) add();
    const asked = add();
    outbox.markUrgent(asked);
    assert.deepEqual(
      outbox.peek(3).map((f) => f.sequence),
      [6, 1, 2],
    );
    assert.deepEqual(
      outbox.peek(1).map((f) => f.sequence),
      [6],
    );
    assert.deepEqual(
      outbox.peek(3, new Set([6])).map((f) => f.sequence),
      [1, 2, 3],
      'in flight: excluded like any frame',
    );
    assert.deepEqual(
      outbox.peek(10).map((f) => f.sequence),
      [6, 1, 2, 3, 4, 5],
      'never twice',
    );
    outbox.ack([6]);
    assert.deepEqual(
      outbox.peek(10).map((f) => f.sequence),
      [1, 2, 3, 4, 5],
    );
    assert.equal(outbox.stats().rows, 5, 'the acknowledged frame left the outbox itself');
    outbox.close();
  });
});

describe('status refresh', () => {
  it('publishes every interval on mocked time and stops with its part', () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    let published = 0;
    const refresh = new StatusRefresh({ intervalMs: 30_000, publish: () => published++ });
    refresh.start();
    mock.timers.tick(29_999);
    assert.equal(published, 0);
    mock.timers.tick(1);
    assert.equal(published, 1);
    mock.timers.tick(30_000);
    mock.timers.tick(30_000);
    assert.equal(published, 3);
    refresh.stop();
    mock.timers.tick(120_000);
    assert.equal(published, 3);
  });
});

describe('state file', () => {
  const configured: Settings = { prompt: null, intervalMs: 1000, paused: false };

  it('keeps commanded settings across instances, replaced atomically, owner and group only', () => {
    const path = join(work, 'a.state.json');
    const first = new StateStore(path, log);
    assert.deepEqual(first.settings(configured), configured, 'nothing stored yet');
    first.remember('prompt', 'Keep?', null);
    first.remember('paused', true, false);
    first.publishedDiscovery = ['homeassistant/switch/cam/paused/config'];
    assert.deepEqual(
      readdirSync(work).filter((f) => f.startsWith('a.')),
      ['a.state.json'],
      'no temporary file left',
    );
    assert.equal(statSync(path).mode & 0o777, 0o640);
    const second = new StateStore(path, log);
    assert.deepEqual(second.settings(configured), { prompt: 'Keep?', intervalMs: 1000, paused: true });
    assert.deepEqual(second.publishedDiscovery, ['homeassistant/switch/cam/paused/config']);
    // The configured prompt changed since the command: the file's edit is the newer intent.
    assert.deepEqual(second.settings({ ...configured, prompt: 'Edited' }), { prompt: 'Edited', intervalMs: 1000, paused: true });
  });

  it('a damaged, oversized or foreign file is not fatal: the configuration applies and it is said once', () => {
    for (const [name, content] of [
      ['junk', '{not json'],
      ['foreign', JSON.stringify({ v: 2 })],
      ['bad-value', JSON.stringify({ v: 1, settings: { intervalMs: -5 }, base: {}, homeassistant: { published: [] } })],
      ['huge', ' '.repeat(70 * 1024)],
    ] as const) {
      const path = join(work, `${name}.state.json`);
      writeFileSync(path, content);
      warnings.length = 0;
      assert.deepEqual(new StateStore(path, log).settings(configured), configured, name);
      assert.equal(warnings.length, 1, name);
    }
    warnings.length = 0;
    assert.deepEqual(new StateStore(join(work, 'missing.json'), log).settings(configured), configured);
    assert.equal(warnings.length, 0, 'a missing file is the first start, not a problem');
    assert.equal(existsSync(join(work, 'missing.json')), false, 'reading writes nothing');
  });
});

describe('preview', () => {
  it('fits the byte and side bounds even for a large noise image', async () => {
    const width = 2000;
    const height = 1500;
    const noise = Buffer.alloc(width * height * 3);
    let seed = 7;
    for (let i = 0; i < noise.length; i++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      noise[i] = seed >>> 24;
    }
    const png = await sharp(noise, { raw: { width, height, channels: 3 } })
      .png()
      .toBuffer();
    const jpeg = await makePreview(png);
    assert.ok(jpeg);
    assert.ok(jpeg.length <= PREVIEW_MAX_BYTES, `${jpeg.length} bytes`);
    const meta = await sharp(jpeg).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.ok(Math.max(meta.width!, meta.height!) <= PREVIEW_MAX_SIDE);
    assert.equal(await makePreview(Buffer.from('not an image')).catch(() => 'refused'), 'refused');
  });
});
