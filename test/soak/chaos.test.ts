// Two minutes of chaos in every `make test` (longer runs: `make soak MINUTES=30`):
// every committed frame answered exactly once, evicted by policy, or queued;
// outboxes within their bound; no memory growth.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { runSoak } from './chaos.ts';

it('chaos soak: SIGKILLed daemons and workers, broker restarts and cut links lose and duplicate nothing', { timeout: 600_000 }, async () => {
  const report = await runSoak({ minutes: 2, seed: 7 });
  console.log(`# ${JSON.stringify(report)}`);
  assert.deepEqual(report.lost, [], 'every committed frame is answered, evicted by policy or queued');
  assert.deepEqual(report.duplicates, [], 'no frame answered twice with different answers');
  assert.equal(report.refusedFrames, 0, 'every frame reached the workers intact (none refused as damaged on the way)');
  assert.ok(Object.values(report.faults).reduce((a, b) => a + b, 0) >= 8, `faults injected: ${JSON.stringify(report.faults)}`);
  for (const device of report.devices) {
    assert.ok(device.committed > 100, `${device.device} committed ${device.committed} frames`);
    assert.ok(device.maxQueued <= device.bound, `${device.device} outbox peaked at ${device.maxQueued} > ${device.bound}`);
    assert.equal(device.queued, 0, `${device.device} drained`);
  }
  assert.ok(report.rssMiB.edgeLast <= report.rssMiB.edgeFirst * 1.25 + 20, `edge memory ${JSON.stringify(report.rssMiB)}`);
  assert.ok(report.rssMiB.workerLast <= report.rssMiB.workerFirst * 1.25 + 20, `worker memory ${JSON.stringify(report.rssMiB)}`);
});
