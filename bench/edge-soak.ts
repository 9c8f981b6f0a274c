// Runs the edge daemon as a child process against a real mosquitto for a
// while and samples its resident memory and disk writes.
//   node bench/edge-soak.ts [--minutes 10] [--model DIR] [--interval-ms 100] [--synchronous normal|full] [--binary dist/splitoculo-edge-linux-x64]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EdgeProcess, writeConfig } from '../tools/edge-process.ts';
import { FrameCollector } from '../tools/frame-collector.ts';
import { Mosquitto } from '../tools/mosquitto.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    model: { type: 'string', default: '.cache/models/full' },
    'interval-ms': { type: 'string', default: '100' },
    synchronous: { type: 'string', default: 'normal' },
    binary: { type: 'string' },
  },
});
const minutes = Number(values.minutes);
const dir = mkdtempSync(join(tmpdir(), 'splitoculo-soak-'));
const camera = join(dir, 'camera');
mkdirSync(camera);
execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=640x480:rate=15', '-frames:v', '60', '-q:v', '5', join(camera, 'f%03d.jpg')]);
const broker = await Mosquitto.start();
const collector = await FrameCollector.connect(broker.url, 'soak-collector');
collector.frames.length = 0;
const config = writeConfig(dir, {
  device: { id: 'soak' },
  model: { path: values.model, threads: 1 },
  camera: { type: 'directory', path: camera, loop: true },
  capture: { intervalMs: Number(values['interval-ms']) },
  outbox: { path: join(dir, 'outbox.db'), synchronous: values.synchronous },
  mqtt: { url: broker.url },
  log: { level: 'info' },
});
const edge = new EdgeProcess(config, [], { ...process.env, SPLITOCULO_CACHE_DIR: join(dir, 'cache') }, values.binary ? [values.binary] : undefined);
await edge.waitFor((l) => l.msg === 'connected to the broker');
const pid = edge.child.pid!;
const status = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
const writes = () => Number(/write_bytes: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1]);
let delivered = 0;
collector.client.on('message', () => delivered++);
const start = Date.now();
const w0 = writes();
const samples: Array<{ t: number; rss: number; delivered: number }> = [];
while (Date.now() - start < minutes * 60_000) {
  await new Promise((r) => setTimeout(r, Math.min(30_000, minutes * 60_000)));
  samples.push({ t: Math.round((Date.now() - start) / 1000), rss: status('VmRSS'), delivered });
  console.log(`t=${samples.at(-1)!.t}s rss=${(samples.at(-1)!.rss / 1048576).toFixed(1)} MiB delivered=${delivered}`);
}
const written = writes() - w0;
const peak = status('VmHWM');
await edge.stop();
console.log(`\n${values.binary ?? 'source tree'}: ${minutes} min at ${values['interval-ms']} ms per capture, synchronous=${values.synchronous}`);
console.log(`frames delivered: ${delivered}; resident memory at the end ${(samples.at(-1)!.rss / 1048576).toFixed(1)} MiB, peak ${(peak / 1048576).toFixed(1)} MiB`);
console.log(`disk writes: ${written} bytes, ${(written / Math.max(delivered, 1)).toFixed(0)} bytes per frame (frame itself: 3,226 bytes)`);
await collector.close();
await broker.dispose();
rmSync(dir, { recursive: true, force: true });
