// codec: auto — the link estimate it learns from pings and PUBACKs, and the
// per-frame choice with hysteresis.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LinkEstimator } from '../../daemon/link/link-estimator.ts';
import { CodecSelector } from '../../daemon/pipeline/codec-selector.ts';

describe('link estimator', () => {
  it('takes the smallest ping as the round trip and the transfer time beyond it as the rate', () => {
    const link = new LinkEstimator();
    assert.deepEqual(link.estimate, { rttMs: undefined, bytesPerSecond: undefined, samples: 0 });
    for (const ms of [75, 61, 90]) link.observeRtt(ms); // later pings queued behind frames
    assert.equal(link.rttMs, 61);
    // 125 KB/s, 61 ms: 12,500 bytes take 100 ms on the wire plus the round trip.
    for (let i = 0; i < 5; i++) link.observePublish(12_500, 161 + (i % 2));
    assert.ok(Math.abs(link.bytesPerSecond! - 125_000) < 2_500, String(link.bytesPerSecond));
    // A frame sent behind 25,000 unacknowledged bytes waited for them too.
    link.reset();
    link.observeRtt(61);
    for (let i = 0; i < 3; i++) link.observePublish(12_500, 61 + 300, 25_000);
    assert.ok(Math.abs(link.bytesPerSecond! - 125_000) < 1, String(link.bytesPerSecond));
  });

  it('needs a ping first, and turns a small frame on a fast link into a large lower bound', () => {
    const link = new LinkEstimator();
    link.observePublish(3_300, 0.6); // no round trip known: the transfer time cannot be told apart
    assert.deepEqual(link.estimate, { rttMs: undefined, bytesPerSecond: undefined, samples: 1 });
    link.observeRtt(0.3);
    assert.ok(link.bytesPerSecond! >= 3_300_000, String(link.bytesPerSecond)); // floored at 1 ms of transfer
  });

  it('works rates out with the newest round trip: a first ping that queued behind a frame is corrected later', () => {
    const link = new LinkEstimator();
    link.observeRtt(250); // queued behind the backlog at connect
    for (let i = 0; i < 3; i++) link.observePublish(3_300, 225); // looks like no transfer time at all
    link.observeRtt(60);
    assert.ok(Math.abs(link.bytesPerSecond! - 20_000) < 1, String(link.bytesPerSecond));
  });

  it('ignores nonsense samples', () => {
    const link = new LinkEstimator();
    link.observeRtt(Number.NaN);
    link.observeRtt(-1);
    link.observePublish(0, 10);
    link.observePublish(100, Number.POSITIVE_INFINITY);
    assert.deepEqual(link.estimate, { rttMs: undefined, bytesPerSecond: undefined, samples: 0 });
  });
});

describe('codec selector', () => {
  const frames = { neuralBytes: 3_300, jpegBytes: 14_000, backlogBytes: 0 };
  const link = (bytesPerSecond: number, rttMs: number) => ({ bytesPerSecond, rttMs, samples: 10 });

  it('fixed modes never change', () => {
    for (const mode of ['neural', 'jpeg'] as const) {
      const selector = new CodecSelector(mode);
      assert.equal(selector.choose({ ...frames, link: link(1e9, 0.1) }).codec, mode);
      assert.equal(selector.choose({ ...frames, link: link(1_000, 500) }).codec, mode);
    }
  });

  it('picks neural on a slow link and JPEG on a fast one, by predicted time to the cloud', () => {
    const selector = new CodecSelector('auto');
    selector.observeEncode('neural', 40);
    selector.observeEncode('jpeg', 3);
    // 62.5 KB/s: neural 40 + 53 ms, JPEG 3 + 224 ms.
    const slow = selector.choose({ ...frames, link: link(62_500, 60) });
    assert.equal(slow.codec, 'neural');
    assert.ok(Math.abs(slow.predictedMs!.neural - (40 + 52.8 + 30)) < 0.1);
    // 1,250 KB/s: neural 40 + 2.6 ms, JPEG 3 + 11 ms.
    assert.equal(selector.choose({ ...frames, link: link(1_250_000, 100) }).codec, 'jpeg');
  });

  it('hysteresis leans to the smaller frame: JPEG needs twice the margin to take over, neural returns below the margin', () => {
    const selector = new CodecSelector('auto', 0.1, 0);
    selector.observeEncode('neural', 40);
    selector.observeEncode('jpeg', 3);
    // rtt 100: at 400 KB/s neural 98.3 ms, JPEG 88 ms (lead 10.4%); at 350 KB/s JPEG leads by 6.4%; at 1 MB/s by 28%.
    const at = (bytesPerSecond: number) => selector.choose({ ...frames, link: link(bytesPerSecond, 100) }).codec;
    assert.equal(at(400_000), 'neural'); // a 10% lead is not enough to take over
    assert.equal(at(1_000_000), 'jpeg');
    assert.equal(at(400_000), 'jpeg'); // nor to be pushed out
    assert.equal(at(350_000), 'neural');
    assert.equal(at(400_000), 'neural');
  });

  it("charges JPEG the cloud's extra decoding time", () => {
    const selector = new CodecSelector('auto', 0.05, 25);
    selector.observeEncode('neural', 40);
    selector.observeEncode('jpeg', 3);
    const decision = selector.choose({ ...frames, link: link(1_250_000, 100) });
    assert.equal(decision.codec, 'neural'); // 92.6 ms against 67.2 + 25
    assert.ok(Math.abs(decision.predictedMs!.jpeg - (3 + 11.2 + 50 + 25)) < 1e-9);
  });

  it('uses neural until the link is measured, and the smaller frame while a queue stands', () => {
    const selector = new CodecSelector('auto');
    assert.equal(selector.choose({ ...frames, link: { rttMs: undefined, bytesPerSecond: undefined, samples: 0 } }).codec, 'neural');
    selector.observeEncode('neural', 40);
    selector.observeEncode('jpeg', 3);
    const idle = selector.choose({ ...frames, backlogBytes: 20_000, link: link(1_000_000, 10) });
    assert.equal(idle.codec, 'jpeg'); // a frame or so in flight is no standing queue
    const backlogged = selector.choose({ ...frames, backlogBytes: 500_000, link: link(1_000_000, 10) });
    assert.equal(backlogged.codec, 'neural');
    assert.ok(Math.abs(backlogged.predictedMs!.jpeg - idle.predictedMs!.jpeg - 480) < 1e-9);
    assert.equal(selector.choose({ ...frames, link: link(1_000_000, 10) }).codec, 'jpeg'); // drained: back to latency
  });

  it('makes the JPEG only where one a quarter smaller than recent ones could take over, and every 16th frame', () => {
    const selector = new CodecSelector('auto');
    selector.observeEncode('neural', 40);
    selector.observeEncode('jpeg', 3);
    const slow = { neuralBytes: 3_300, backlogBytes: 0, link: link(62_500, 60) };
    assert.equal(selector.wantsJpeg(slow), true); // no JPEG size known yet
    assert.equal(selector.choose({ ...slow, jpegBytes: 14_000 }).codec, 'neural');
    const made: boolean[] = [];
    for (let frame = 0; frame < 20; frame++) {
      const wanted = selector.wantsJpeg(slow);
      made.push(wanted);
      assert.equal(selector.choose({ ...slow, jpegBytes: wanted ? 14_000 : undefined }).codec, 'neural');
    }
    assert.deepEqual(
      made.map((m, i) => (m ? i : -1)).filter((i) => i >= 0),
      [16],
    );
    // 250 KB/s: a 10.5 KB JPEG would lead by 5%, not enough to take over; 400 KB/s: by 16%, so make it.
    assert.equal(selector.wantsJpeg({ ...slow, link: link(250_000, 100) }), false);
    assert.equal(selector.wantsJpeg({ ...slow, link: link(400_000, 100) }), true);
    assert.equal(new CodecSelector('neural').wantsJpeg(slow), false);
    assert.equal(new CodecSelector('jpeg').wantsJpeg(slow), true);
  });

  it('predicts encode time by the median of the last 8, so one slow run does not count', () => {
    const selector = new CodecSelector('auto');
    assert.equal(selector.encodeMs('neural'), undefined);
    for (const ms of [400, 40, 42, 41]) selector.observeEncode('neural', ms);
    assert.equal(selector.encodeMs('neural'), 41);
    for (let i = 0; i < 8; i++) selector.observeEncode('neural', 10);
    assert.equal(selector.encodeMs('neural'), 10);
  });
});
