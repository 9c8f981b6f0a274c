/**
 * Bytes the outbox writes per queued frame, as the daemon uses it: one
 * enqueue transaction per frame, one publish attempt counted, and the frame
 * deleted when its PUBACK comes
 * (`ackEvery` frames per delete transaction). Runs in a child process of its
 * own, so /proc/self/io counts only SQLite's writes: `wchar` is what reached
 * write()/pwrite() (WAL frames, checkpoints, the database), `write_bytes` what
 * the kernel accounted to the block layer (a page dirtied twice before
 * writeback counts once).
 *
 *   node bench/footprint/disk-writes.ts --frames 2000 --frame-bytes 3247 --synchronous normal --ack-every 1
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SqliteOutbox } from '../../daemon/outbox/sqlite-outbox.ts';

export interface DiskWriteResult {
  frames: number;
  frameBytes: number;
  synchronous: 'normal' | 'full';
  ackEvery: number;
  /** Bytes handed to write()/pwrite() per frame, and that over the frame's size. */
  syscallBytesPerFrame: number;
  syscallRatio: number;
  /** Bytes the kernel accounted to storage per frame, and the ratio. */
  blockBytesPerFrame: number;
  blockRatio: number;
}

function io(): { wchar: number; writeBytes: number } {
  const text = readFileSync('/proc/self/io', 'utf8');
  const field = (name: string) => Number(/^(\w+): (\d+)$/m.test(text) ? (new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1] ?? 0) : 0);
  return { wchar: field('wchar'), writeBytes: field('write_bytes') };
}

export function measureDiskWrites(o: { dir: string; frames: number; frameBytes: number; synchronous: 'normal' | 'full'; ackEvery: number }): DiskWriteResult {
  const outbox = new SqliteOutbox({
    path: join(o.dir, 'outbox.db'),
    synchronous: o.synchronous,
    minFreeBytes: 0,
    limits: { maxRows: 100_000, maxBytes: 512 * 1024 * 1024, ttlMs: 0, policy: 'drop-oldest', maxAnswers: 10_000 },
  });
  const payload = randomBytes(o.frameBytes);
  // Warm-up: the first frames create the tables' pages; the steady state is what a board lives in.
  const run = (n: number) => {
    let pending: number[] = [];
    for (let i = 0; i < n; i++) {
      const identity = outbox.nextIdentity();
      outbox.enqueue({ ...identity, capturedAt: Date.now(), bytes: payload });
      outbox.markAttempt(identity.sequence); // the publisher counts each send
      pending.push(identity.sequence);
      if (pending.length >= o.ackEvery) {
        outbox.ack(pending);
        pending = [];
      }
    }
    outbox.ack(pending);
  };
  run(200);
  const before = io();
  run(o.frames);
  const after = io();
  outbox.close();
  const syscall = (after.wchar - before.wchar) / o.frames;
  const block = (after.writeBytes - before.writeBytes) / o.frames;
  return {
    frames: o.frames,
    frameBytes: o.frameBytes,
    synchronous: o.synchronous,
    ackEvery: o.ackEvery,
    syscallBytesPerFrame: Math.round(syscall),
    syscallRatio: syscall / o.frameBytes,
    blockBytesPerFrame: Math.round(block),
    blockRatio: block / o.frameBytes,
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      frames: { type: 'string', default: '2000' },
      'frame-bytes': { type: 'string', default: '3247' },
      synchronous: { type: 'string', default: 'normal' },
      'ack-every': { type: 'string', default: '1' },
      dir: { type: 'string' },
    },
  });
  // On the disk the outbox would use, not a tmpfs (whose writes never reach a block device).
  const dir = mkdtempSync(values.dir ?? join(process.cwd(), '.cache', 'footprint-disk-'));
  try {
    const result = measureDiskWrites({
      dir,
      frames: Number(values.frames),
      frameBytes: Number(values['frame-bytes']),
      synchronous: values.synchronous as 'normal' | 'full',
      ackEvery: Number(values['ack-every']),
    });
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
