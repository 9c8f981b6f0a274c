/**
 * The one shaped pipe of the repository: the bench's delay relay
 * (bench/link/delay-relay.ts) and the tests' TcpRelay (test/helpers/tcp-proxy.ts)
 * both forward TCP through it, so their rate and delay arithmetic is the same.
 * It lives in tools/, which test/ and bench/ both import and which imports
 * neither of them.
 */
import type { Socket } from 'node:net';

/**
 * Forwards `from` to `to` delayed by half a round trip and, with a rate, no
 * faster than it; byte order is kept. Chunks wait in one FIFO drained by one
 * timer: a timer per chunk does not keep the order, because Node truncates a
 * timer's delay to whole milliseconds from a whole-millisecond start, so a
 * small chunk read a fraction of a millisecond after a large one could fire
 * first and overtake it (an MQTT stream then carries a PUBLISH whose payload
 * holds another packet's bytes: the chaos soak's corrupt frame,
 * test/soak/shaped-link-order.test.ts).
 */
export function shapedPipe(from: Socket, to: Socket, shape: { rttMs: number; bytesPerSecond?: number | undefined }, count: (bytes: number) => void = () => undefined): void {
  const { rttMs, bytesPerSecond } = shape;
  if (rttMs === 0 && bytesPerSecond === undefined) {
    from.on('data', (chunk: Buffer) => {
      count(chunk.length);
      if (!to.destroyed) to.write(chunk);
    });
    return;
  }
  let freeAt = 0;
  // Due times never decrease (freeAt only grows, the delay is constant), so the FIFO is in due order.
  const queue: Array<{ due: number; chunk: Buffer }> = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  const drain = () => {
    timer = null;
    const now = performance.now();
    // Timers fire on whole milliseconds: whatever is due within the next one goes now, in order.
    while (queue.length > 0 && queue[0]!.due <= now + 1) {
      const { chunk } = queue.shift()!;
      if (!to.destroyed) to.write(chunk);
    }
    if (queue.length > 0) timer = setTimeout(drain, queue[0]!.due - now);
  };
  from.on('data', (chunk: Buffer) => {
    count(chunk.length);
    const now = performance.now();
    freeAt = Math.max(freeAt, now) + (bytesPerSecond ? (chunk.length / bytesPerSecond) * 1000 : 0);
    queue.push({ due: freeAt + rttMs / 2, chunk });
    if (timer === null) timer = setTimeout(drain, queue[0]!.due - now);
  });
}
