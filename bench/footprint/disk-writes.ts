/**
 * Bytes the outbox writes per queued frame, as the daemon uses it: one
 * enqueue transaction per frame, one publish attempt counted, and the frame
 * deleted when its PUBACK comes
 * (`ackEvery` frames per delete transaction). With `answerBytes`, each frame
 * is also answered, as on a board in steady state: the previous frame's
 * answer stored after the next enqueue (its own transaction: the daemon
 * commits an answer before its PUBACK), with the answer store at its bound
 * (`maxAnswers`, filled in the warm-up) so trims are counted too. Runs in a child process of its
 * own, so /proc/self/io counts only SQLite's writes: `wchar` is what reached
 * write()/pwrite() (WAL frames, checkpoints, the database), `write_bytes` what
 * the kernel accounted to the block layer (a page dirtied twice before
 * writeback counts once).
 *
 *   node bench/footprint/disk-writes.ts --frames 2000 --frame-bytes 3247 --synchronous normal --ack-every 1
 *   node bench/footprint/disk-writes.ts --answer-bytes 600 --max-answers 1000
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
  /** Answer JSON bytes stored per frame (0: frames only) and the store's bound. */
  answerBytes: number;
  maxAnswers: number;
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

export function measureDiskWrites(o: {
  dir: string;
  frames: number;
  frameBytes: number;
  synchronous: 'normal' | 'full';
  ackEvery: number;
  answerBytes?: number;
  maxAnswers?: number;
}): DiskWriteResult {
  const answerBytes = o.answerBytes ?? 0;
  const maxAnswers = o.maxAnswers ?? 10_000;
  const outbox = new SqliteOutbox({
    path: join(o.dir, 'outbox.db'),
    synchronous: o.synchronous,
    minFreeBytes: 0,
    limits: { maxRows: 100_000, maxBytes: 512 * 1024 * 1024, ttlMs: 0, policy: 'drop-oldest', maxAnswers },
  });
  const payload = randomBytes(o.frameBytes);
  const answer = JSON.stringify({ v: 1, text: 'x'.repeat(Math.max(0, answerBytes - 20)) });
  let answerNext: string | null = null;
  const run = (n: number) => {
    let pending: number[] = [];
    for (let i = 0; i < n; i++) {
      const identity = outbox.nextIdentity();
      outbox.enqueue({ ...identity, capturedAt: Date.now(), bytes: payload });
      outbox.markAttempt(identity.sequence); // the publisher counts each send
      if (answerBytes > 0 && answerNext !== null) outbox.storeAnswer(answerNext, answer);
      answerNext = identity.frameId;
      pending.push(identity.sequence);
      if (pending.length >= o.ackEvery) {
        outbox.ack(pending);
        pending = [];
      }
    }
    outbox.ack(pending);
  };
  // Warm-up: the first frames create the tables' pages (and fill the answer store); the steady state is what a board lives in.
  run(answerBytes > 0 ? maxAnswers + 200 : 200);
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
    answerBytes,
    maxAnswers,
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
      'answer-bytes': { type: 'string', default: '0' },
      'max-answers': { type: 'string', default: '10000' },
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
      answerBytes: Number(values['answer-bytes']),
      maxAnswers: Number(values['max-answers']),
    });
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
