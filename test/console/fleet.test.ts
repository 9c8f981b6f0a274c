// The console's view of the devices: bounded in devices (the longest silent goes), inputs checked for size and shape before they are kept.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Fleet, type FleetEvent } from '../../cloud/console/fleet.ts';
import { MAX_JSON_INPUT_BYTES } from '../../protocol/limits.ts';
import { encodeStatus, onlineStatus } from '../../protocol/status.ts';

const body = { version: '0.1.0', node: 'v24.21.0', codec: 'neural' as const, paused: false, intervalMs: 1000, prompt: null, captured: 0 };
const status = (id: string) => encodeStatus(onlineStatus(id, body));

it('keeps at most maxDevices, dropping the longest silent first', () => {
  const fleet = new Fleet(2, () => undefined);
  fleet.status('a', status('a'));
  fleet.status('b', status('b'));
  fleet.status('a', status('a')); // a spoke last: b is now the longest silent
  fleet.status('c', status('c'));
  assert.deepEqual(
    fleet.list().map((d) => d.id),
    ['a', 'c'],
  );
});

it('an empty retained status removes the device; oversized or non-object statuses are refused and change nothing', () => {
  const events: FleetEvent[] = [];
  const fleet = new Fleet(10, (e) => events.push(e));
  assert.equal(fleet.status('a', status('a')), null);
  assert.match(fleet.status('a', Buffer.alloc(MAX_JSON_INPUT_BYTES + 1, 0x20))!.refused, /at most/);
  assert.match(fleet.status('a', Buffer.from('[1,2]'))!.refused, /not a JSON object/);
  assert.match(fleet.status('a', Buffer.from('{oops'))!.refused, /not JSON/);
  assert.equal(fleet.get('a')!.state, 'online');
  assert.equal(events.length, 1);
  fleet.status('a', Buffer.alloc(0));
  assert.equal(fleet.get('a'), null);
});

it("a status of another daemon version is shown loosely, with the schema's complaint", () => {
  const fleet = new Fleet(10, () => undefined);
  const future = { ...JSON.parse(status('a').toString()), newField: 1 };
  assert.equal(fleet.status('a', Buffer.from(JSON.stringify(future))), null);
  const device = fleet.get('a')!;
  assert.equal(device.state, 'online');
  assert.match(device.statusProblem!, /newField/);
});

it("an answer on one device's topic naming another device is refused", () => {
  const fleet = new Fleet(10, () => undefined);
  const answer = { v: 1, frameId: '01900000-0000-7000-8000-000000000001', device: 'b', modelId: null, prompt: null, text: 'x', timings: { totalMs: 1 }, answeredAt: new Date().toISOString() };
  const result = fleet.answer('a', Buffer.from(JSON.stringify(answer)));
  assert.ok('refused' in result && /names device "b"/.test(result.refused));
  assert.equal(fleet.get('a'), null);
});
