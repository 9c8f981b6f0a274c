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
 * faster than it; byte order is kept (a constant delay keeps the order; the
 * rate term only ever pushes later chunks later).
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
  from.on('data', (chunk: Buffer) => {
    count(chunk.length);
    const now = performance.now();
    freeAt = Math.max(freeAt, now) + (bytesPerSecond ? (chunk.length / bytesPerSecond) * 1000 : 0);
    setTimeout(
      () => {
        if (!to.destroyed) to.write(chunk);
      },
      freeAt - now + rttMs / 2,
    );
  });
}
