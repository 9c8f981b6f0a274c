/**
 * Where a process's resident memory is, from /proc/<pid>/smaps: each mapping's
 * Rss summed into groups a reader can act on. Anonymous memory cannot be told
 * apart by the kernel (V8's heaps, glibc's malloc arenas, onnxruntime's arena
 * and libvips' buffers all look alike), so the daemon's own metrics
 * (nodejs_heap_size_total_bytes) split V8's share out of it.
 */
import { readFileSync } from 'node:fs';

export interface MemoryBreakdown {
  rssMB: number;
  /** Rss in MB by group: anonymous, heap (brk), stacks, and file-backed code per library. */
  groups: Record<string, number>;
}

const LIBRARY_GROUPS: Array<[RegExp, string]> = [
  [/libonnxruntime/, 'onnxruntime (code)'],
  [/onnxruntime_binding/, 'onnxruntime (code)'],
  [/libvips|sharp/, 'libvips/sharp (code)'],
  [/better_sqlite3|better-sqlite3/, 'better-sqlite3 (code)'],
  [/\/(node|splitoculo-edge[^/]*)$/, 'node / the binary (code)'],
  [/\.onnx$/, 'model files'],
];

function groupOf(path: string): string {
  if (path === '') return 'anonymous (V8 heaps, malloc arenas, ORT arena, libvips buffers)';
  if (path === '[heap]') return 'brk heap (malloc main arena)';
  if (path.startsWith('[stack')) return 'stacks';
  if (path.startsWith('[')) return `kernel ${path}`;
  for (const [pattern, group] of LIBRARY_GROUPS) if (pattern.test(path)) return group;
  return 'other files (libc, libstdc++, ...)';
}

export function readSmaps(pid: number): MemoryBreakdown {
  const text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const groups: Record<string, number> = {};
  let current = '';
  let total = 0;
  for (const line of text.split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (header) {
      current = groupOf(header[1]!.trim());
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) {
      const kb = Number(rss[1]);
      groups[current] = (groups[current] ?? 0) + kb;
      total += kb;
    }
  }
  const mb = (kb: number) => Math.round((kb / 1024) * 10) / 10;
  return {
    rssMB: mb(total),
    groups: Object.fromEntries(
      Object.entries(groups)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => [k, mb(v)]),
    ),
  };
}

/** VmRSS of a process in MB (cheap: for sampling over time). */
export function rssMB(pid: number): number {
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return Math.round((kb / 1024) * 10) / 10;
}

/** Bytes a process caused to be written to storage (/proc/<pid>/io write_bytes). */
export function writeBytes(pid: number): number {
  return Number(/^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
}

/** Threads of a process (each has a stack, and glibc may give each its own malloc arena). */
export function threadCount(pid: number): number {
  return Number(/^Threads:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}
