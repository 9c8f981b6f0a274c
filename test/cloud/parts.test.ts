// The worker's parts on their own: the dedup window, the batcher, the
// configuration's path-named errors.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadCloudConfig } from '../../cloud/config/load.ts';
import { Batcher } from '../../cloud/worker/batcher.ts';
import { DedupStore } from '../../cloud/worker/dedup-store.ts';
import { ConfigError } from '../../runtime/layered-config.ts';
import { waitFor } from '../helpers/wait.ts';

const work = mkdtempSync(join(tmpdir(), 'splitoculo-parts-'));
after(() => rmSync(work, { recursive: true, force: true }));

describe('dedup store', () => {
  it('remembers answers across reopening, within a bounded count and age', () => {
    const path = join(work, 'dedup.db');
    const t = Date.now();
    const limits = { maxEntries: 3, maxDevices: 10, ttlMs: 60_000 };
    let store = new DedupStore(path, limits);
    store.put('cam', 'a', '{"a":1}', t);
    store.close();
    store = new DedupStore(path, limits);
    assert.equal(store.get('cam', 'a'), '{"a":1}');
    for (const [i, id] of ['b', 'c', 'd'].entries()) store.put('cam', id, `{"${id}":1}`, t + 1 + i);
    store.prune(t + 10);
    assert.equal(store.size, 3);
    assert.equal(store.get('cam', 'a'), undefined, 'the oldest went first');
    store.prune(t + 2 + 60_000);
    assert.deepEqual(
      ['b', 'c', 'd'].map((id) => store.get('cam', id) !== undefined),
      [false, true, true],
      'older than the ttl went',
    );
    store.close();
  });
});

describe('batcher', () => {
  it('fills batches per key, flushes partial ones after the wait, and runs one at a time', async () => {
    const batches: string[][] = [];
    let running = 0;
    let peak = 0;
    const batcher = new Batcher<string>({
      batchSize: 3,
      waitMs: 30,
      concurrency: 1,
      keyOf: (item) => item[0]!,
      run: async (batch) => {
        peak = Math.max(peak, ++running);
        await new Promise((r) => setTimeout(r, 10));
        batches.push(batch);
        running--;
      },
    });
    for (const item of ['a1', 'b1', 'a2', 'a3', 'a4', 'b2']) batcher.add(item);
    // The partial batches leave by the wait timer, not by drain().
    await waitFor(() => batches.length === 3, { what: 'both partial batches flushed by the timer' });
    await batcher.drain();
    assert.deepEqual(batches, [['a1', 'a2', 'a3'], ['b1', 'b2'], ['a4']]);
    assert.equal(peak, 1);
    assert.equal(batcher.size, 0);
  });

  it('runs several batches at once when allowed', async () => {
    let running = 0;
    let peak = 0;
    const batcher = new Batcher<number>({
      batchSize: 1,
      waitMs: 0,
      concurrency: 3,
      keyOf: () => 'k',
      run: async () => {
        peak = Math.max(peak, ++running);
        await new Promise((r) => setTimeout(r, 20));
        running--;
      },
    });
    for (let i = 0; i < 6; i++) batcher.add(i);
    await batcher.drain();
    assert.equal(peak, 3);
  });
});

describe('cloud configuration', () => {
  const minimal = ['models.paths=["models/tiny"]', 'answerer.type=local', 'answerer.qwen=models/tiny-qwen', 'mqtt.url=mqtt://b:1883'];

  it('fills defaults and takes environment and flags in order', () => {
    const config = loadCloudConfig({ sets: [...minimal, 'worker.batchSize=4'], env: { SPLITOCULO_WORKER__BATCH_SIZE: '2', SPLITOCULO_MQTT__SHARED_GROUP: 'pool', STATE_DIRECTORY: '/var/lib/x' } });
    assert.equal(config.worker.batchSize, 4);
    assert.equal(config.mqtt.sharedGroup, 'pool');
    assert.equal(config.dedup.path, '/var/lib/x/answered.db');
    assert.equal(config.answerer.type === 'local' && config.answerer.maxNewTokens, 256);
  });

  it('names the offending path', () => {
    assert.throws(
      () => loadCloudConfig({ sets: [...minimal, 'worker.batchSize=0'] }),
      (error: Error) => error instanceof ConfigError && /worker\.batchSize/.test(error.message),
    );
    assert.throws(() => loadCloudConfig({ sets: minimal.filter((s) => !s.startsWith('mqtt')) }), /mqtt\.url: required unless broker\.embedded is true/);
    assert.throws(() => loadCloudConfig({ sets: [...minimal, 'answerer.type=openai'] }), /answerer\.type/);
    assert.throws(() => loadCloudConfig({ sets: [...minimal, 'mqtt.sharedGroup=a/b'] }), /mqtt\.sharedGroup/);
  });

  it('needs no broker URL with the embedded broker', () => {
    const config = loadCloudConfig({ sets: [...minimal.filter((s) => !s.startsWith('mqtt')), 'broker.embedded=true', 'broker.port=0'] });
    assert.equal(config.mqtt.url, undefined);
    assert.equal(config.broker.embedded, true);
  });
});
