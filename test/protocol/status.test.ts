import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeCommand, parseCommand, CommandError, COMMAND_NAMES } from '../../protocol/commands.ts';
import { CODEC_SETTINGS, FRAME_CODECS, WIRE_CODEC, frameCodec } from '../../protocol/codec-names.ts';
import { CODECS } from '../../protocol/wire/codecs.ts';
import { encodeStatus, offlineStatus, onlineStatus, parseStatus, StatusError, type StatusBody } from '../../protocol/status.ts';

const body: StatusBody = {
  version: '1.2.3',
  node: 'v24.21.0',
  modelId: '0123456789abcdef0123456789abcdef',
  codec: 'auto',
  link: { rttMs: 12.5, bytesPerSecond: undefined, samples: 3 },
  paused: false,
  intervalMs: 5000,
  prompt: null,
  queue: { frames: 2, bytes: 6400, evicted: { 'drop-oldest': 1, 'drop-newest': 0, ttl: 0 }, rejected: 0 },
  captured: 7,
  lastCommand: { ok: true, command: 'pause', id: 'op-1', at: '2026-01-01T00:00:00.000Z' },
};

describe('status document', () => {
  it('online: state, device, the body, then the time, and it parses back', () => {
    const doc = onlineStatus('cam1', body, new Date('2026-02-03T04:05:06.000Z'));
    const json = JSON.parse(encodeStatus(doc).toString());
    assert.deepEqual(Object.keys(json).slice(0, 2), ['state', 'device']);
    assert.equal(Object.keys(json).at(-1), 'at');
    assert.equal(json.state, 'online');
    assert.equal(json.at, '2026-02-03T04:05:06.000Z');
    assert.deepEqual(json.link, { rttMs: 12.5, samples: 3 }, 'an unknown rate is left out, as JSON would');
    assert.deepEqual(parseStatus(encodeStatus(doc)), json);
  });

  it('offline: the will carries no time, a clean stop does', () => {
    assert.deepEqual(offlineStatus('cam1'), { state: 'offline', device: 'cam1' });
    assert.deepEqual(offlineStatus('cam1', new Date(0)), { state: 'offline', device: 'cam1', at: '1970-01-01T00:00:00.000Z' });
    assert.equal(parseStatus(encodeStatus(offlineStatus('cam1'))).state, 'offline');
  });

  it('a refused command is reported with its reason', () => {
    const doc = onlineStatus('cam1', { ...body, lastCommand: { ok: false, error: 'command: not JSON', at: '2026-01-01T00:00:00.000Z' } });
    assert.equal(doc.lastCommand?.ok, false);
    const second = onlineStatus('cam1', {
      ...body,
      lastCommand: { ok: false, command: 'ask', id: 'r2', error: 'an ask is pending (id r1)', at: '2026-01-01T00:00:00.000Z' },
    });
    assert.deepEqual(parseStatus(encodeStatus(second)), JSON.parse(JSON.stringify(second)));
  });

  it('carries what a console shows: pending ask, last ask, codec mix, frame/answer/preview times, model', () => {
    const full: StatusBody = {
      ...body,
      pendingAsk: { id: 'r1', prompt: 'Is the door open?', since: '2026-01-01T00:00:00.000Z' },
      lastAsk: { id: 'r0', outcome: 'timed-out', at: '2026-01-01T00:00:00.000Z' },
      codecs: { neural: 5, jpeg: 2 },
      lastFrameAt: '2026-01-01T00:00:01.000Z',
      lastAnswerAt: '2026-01-01T00:00:02.000Z',
      lastPreviewAt: '2026-01-01T00:00:03.000Z',
      model: 'splitoculo-tiny',
    };
    const doc = onlineStatus('cam1', full);
    assert.deepEqual(parseStatus(encodeStatus(doc)), JSON.parse(JSON.stringify(doc)));
    assert.equal(onlineStatus('cam1', { ...full, pendingAsk: null }).pendingAsk, null);
    assert.throws(() => onlineStatus('cam1', { ...full, pendingAsk: { id: 'a b', prompt: 'x', since: full.lastFrameAt! } }), StatusError);
    assert.throws(() => onlineStatus('cam1', { ...full, codecs: { neural: 1, jpeg: 0, rans: 1 } as StatusBody['codecs'] }), StatusError);
    assert.throws(() => onlineStatus('cam1', { ...full, lastAsk: { id: 'r0', outcome: 'lost' } as unknown as StatusBody['lastAsk'] }), StatusError);
  });

  it('the builders refuse a field the schema does not name, and bad values, naming the path', () => {
    assert.throws(
      () => onlineStatus('cam1', { ...body, extra: 1 } as StatusBody),
      (e: unknown) => e instanceof StatusError && /extra|Unrecognized/.test(e.message),
    );
    assert.throws(
      () => onlineStatus('cam1', { ...body, codec: 'neural-u8' } as unknown as StatusBody),
      (e: unknown) => e instanceof StatusError && /codec/.test(e.message),
    );
    assert.throws(
      () => onlineStatus('cam1', { ...body, captured: -1 }),
      (e: unknown) => e instanceof StatusError && /captured/.test(e.message),
    );
    assert.throws(
      () => offlineStatus(''),
      (e: unknown) => e instanceof StatusError && /device/.test(e.message),
    );
  });

  it('parseStatus refuses what is not a status document, naming the input', () => {
    assert.throws(
      () => parseStatus('{'),
      (e: unknown) => e instanceof StatusError && /^status: not JSON/.test(e.message),
    );
    assert.throws(
      () => parseStatus('{"state":"sleeping","device":"cam1"}'),
      (e: unknown) => e instanceof StatusError && /^status: state/.test(e.message),
    );
    assert.throws(
      () => parseStatus(JSON.stringify({ ...onlineStatus('cam1', body), paused: 'no' })),
      (e: unknown) => e instanceof StatusError && /paused/.test(e.message),
    );
  });
});

describe('commands', () => {
  it('every command name round-trips through the schema', () => {
    const samples = {
      'set-prompt': { command: 'set-prompt', prompt: 'How many?' },
      capture: { command: 'capture' },
      pause: { command: 'pause' },
      resume: { command: 'resume' },
      'set-interval': { command: 'set-interval', intervalMs: 5000 },
      ask: { command: 'ask', prompt: 'Is the door open?', id: 'req:1.a_b-C' },
      preview: { command: 'preview' },
    } as const;
    assert.deepEqual(Object.keys(samples).sort(), [...COMMAND_NAMES].sort());
    for (const command of Object.values(samples)) assert.deepEqual(parseCommand(encodeCommand(command)), command);
  });

  it('ask needs a non-empty prompt within the byte limit and a request id the wire format can carry', () => {
    assert.deepEqual(parseCommand('{"command":"preview","id":"p1"}'), { command: 'preview', id: 'p1' });
    const refused = [
      { command: 'ask', prompt: 'x' },
      { command: 'ask', id: 'r1' },
      { command: 'ask', prompt: '', id: 'r1' },
      { command: 'ask', prompt: '   ', id: 'r1' },
      { command: 'ask', prompt: 'x'.repeat(1025), id: 'r1' },
      { command: 'ask', prompt: 'x', id: '' },
      { command: 'ask', prompt: 'x', id: 'a'.repeat(65) },
      { command: 'ask', prompt: 'x', id: 'a b' },
      { command: 'ask', prompt: 'x', id: 'a/b' },
      { command: 'ask', prompt: 'x', id: 'r1', extra: 1 },
      { command: 'preview', id: 'a b' },
    ];
    for (const command of refused) assert.throws(() => parseCommand(JSON.stringify(command)), CommandError, JSON.stringify(command));
    assert.equal(parseCommand(JSON.stringify({ command: 'ask', prompt: 'x', id: 'a'.repeat(64) })).command, 'ask');
  });

  it('refuses unknown commands and stray fields', () => {
    assert.throws(() => parseCommand('{"command":"reboot"}'), CommandError);
    assert.throws(() => parseCommand('{"command":"pause","now":true}'), CommandError);
  });
});

describe('codec names', () => {
  it('config, metrics and status say neural|jpeg; one mapping names their wire codecs', () => {
    assert.deepEqual([...CODEC_SETTINGS], ['neural', 'jpeg', 'auto']);
    for (const codec of FRAME_CODECS) {
      assert.ok(
        CODECS.some((c) => c.name === WIRE_CODEC[codec] && c.supported),
        codec,
      );
      assert.equal(frameCodec(WIRE_CODEC[codec]), codec);
    }
    assert.equal(frameCodec('neural-u8-rans'), null);
  });
});
