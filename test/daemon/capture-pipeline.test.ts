// The capture pipeline's scheduling: overlap, latest-frame for live cameras,
// no skipping for replays, and stop() finishing the frame in hand. The stages
// here are controllable promises; the daemon tests run the real ones.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CapturePipeline } from '../../daemon/pipeline/capture-pipeline.ts';
import type { CapturedImage, FrameSource } from '../../daemon/sources/source.ts';

class CountingSource implements FrameSource {
  readonly name = 'counter';
  next = 1;
  readonly live: boolean;
  readonly limit: number;
  constructor(live: boolean, limit = Infinity) {
    this.live = live;
    this.limit = limit;
  }
  get exhausted() {
    return !this.live && this.next > this.limit;
  }
  async start() {}
  async stop() {}
  async grab(): Promise<CapturedImage | null> {
    if (this.exhausted) return null;
    const n = this.next++;
    return { bytes: Buffer.from([n]), capturedAt: n, label: `image ${n}` };
  }
}

function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

const tick = () => new Promise((r) => setImmediate(r));

function harness(source: CountingSource, maxFrames?: number, supersede?: (dropped: number, replacement: number) => number) {
  const log: string[] = [];
  const drops: string[] = [];
  const failures: string[] = [];
  const commitGates: Array<ReturnType<typeof gate>> = [];
  let finished = -1;
  let empties = 0;
  const pipeline = new CapturePipeline<number>(
    source,
    {
      prepare: async (image) => {
        log.push(`prepare ${image.bytes[0]}`);
        return image.bytes[0]!;
      },
      commit: async (n) => {
        log.push(`commit ${n} start`);
        const g = gate();
        commitGates.push(g);
        await g.promise;
        log.push(`commit ${n} end`);
      },
      ...(supersede && { supersede }),
    },
    { onCaptured: () => undefined, onDropped: (reason) => drops.push(reason), onFinished: (n) => (finished = n), onEmpty: () => empties++, onFailed: (stage) => failures.push(stage) },
    maxFrames,
  );
  return { pipeline, log, drops, failures, commitGates, finishedAt: () => finished, empties: () => empties };
}

describe('capture pipeline', () => {
  it('says so when a tick gets no image: a live camera with nothing new, a file that cannot be read (an ask waiting on it tries again)', async () => {
    const source = new CountingSource(true);
    source.grab = async () => null;
    const h = harness(source);
    h.pipeline.tick();
    await tick();
    assert.deepEqual([h.empties(), h.log.length], [1, 0]);
    source.grab = async () => {
      throw new Error('EACCES');
    };
    h.pipeline.tick();
    await tick();
    await tick();
    assert.deepEqual([h.empties(), h.failures], [2, ['capture']]);
  });

  it('prepares the next image while the current one is committed', async () => {
    const h = harness(new CountingSource(false, 3));
    h.pipeline.tick();
    await tick();
    h.pipeline.tick();
    await tick();
    assert.deepEqual(h.log, ['prepare 1', 'commit 1 start', 'prepare 2']);
    h.commitGates[0]!.open();
    await tick();
    await tick();
    assert.ok(h.log.includes('commit 2 start'));
  });

  it('never skips a replayed file: the next waits for the slot', async () => {
    const h = harness(new CountingSource(false, 5));
    for (let i = 0; i < 20; i++) {
      h.pipeline.tick();
      await tick();
      for (const g of h.commitGates) g.open();
      await tick();
    }
    for (let i = 0; i < 10; i++) {
      for (const g of h.commitGates) g.open();
      await tick();
    }
    assert.deepEqual(
      h.log.filter((l) => l.endsWith('end')),
      [1, 2, 3, 4, 5].map((n) => `commit ${n} end`),
    );
    assert.deepEqual(h.drops, []);
    assert.equal(h.finishedAt(), 5);
  });

  it('lets the newest live image win and counts what it replaced', async () => {
    const h = harness(new CountingSource(true));
    h.pipeline.tick(); // 1 goes to commit and blocks there
    await tick();
    for (let i = 0; i < 4; i++) {
      h.pipeline.tick(); // each prepared image replaces the one waiting
      await tick();
    }
    assert.equal(h.drops.filter((d) => d === 'superseded').length, 3);
    h.commitGates[0]!.open();
    await tick();
    await tick();
    assert.ok(h.log.includes('commit 5 start'), h.log.join(', '));
    assert.ok(!h.log.includes('commit 3 start'));
  });

  it("a replaced image hands on what the stage keeps of it (an ask's request): the supersede hook decides what waits", async () => {
    const pairs: string[] = [];
    // Image 2 "carries a request" (its number + 100 on the replacement says so).
    const h = harness(new CountingSource(true), undefined, (dropped, replacement) => {
      pairs.push(`${dropped}->${replacement}`);
      return dropped >= 100 || dropped === 2 ? replacement + 100 : replacement;
    });
    h.pipeline.tick(); // 1 commits and blocks
    await tick();
    for (let i = 0; i < 3; i++) {
      h.pipeline.tick();
      await tick();
    }
    assert.deepEqual(pairs, ['2->3', '103->4']);
    h.commitGates[0]!.open();
    await tick();
    await tick();
    assert.ok(h.log.includes('commit 104 start'), h.log.join(', '));
  });

  it('reports a failing stage and goes on with the next image', async () => {
    let calls = 0;
    const failures: string[] = [];
    const committed: number[] = [];
    const pipeline = new CapturePipeline<number>(
      new CountingSource(false, 3),
      {
        prepare: async (image) => image.bytes[0]!,
        commit: async (n) => {
          if (++calls === 1) throw new Error('encoder worker died');
          committed.push(n);
        },
      },
      { onCaptured: () => undefined, onDropped: () => undefined, onFinished: () => undefined, onFailed: (stage) => failures.push(stage) },
    );
    pipeline.continuous = true;
    pipeline.tick();
    for (let i = 0; i < 20; i++) await tick();
    assert.deepEqual(failures, ['commit']);
    assert.deepEqual(committed, [2, 3]);
  });

  it('stop() finishes the image in hand', async () => {
    const h = harness(new CountingSource(true));
    h.pipeline.tick();
    await tick();
    h.pipeline.tick();
    await tick(); // image 2 waits in the slot while 1 commits
    const stopped = h.pipeline.stop();
    h.commitGates[0]!.open();
    await tick();
    h.commitGates[1]?.open();
    await tick();
    await tick();
    for (const g of h.commitGates) g.open();
    await stopped;
    assert.deepEqual(
      h.log.filter((l) => l.endsWith('end')),
      ['commit 1 end', 'commit 2 end'],
    );
    h.pipeline.tick();
    await tick();
    assert.ok(!h.log.includes('prepare 3'), 'no capture after stop');
  });
});
