/**
 * Server-Sent Events to the console pages: every status, answer and preview
 * as it arrives. Bounded: at most `maxClients` streams, and a client that
 * does not read (more than MAX_BUFFERED bytes waiting) is dropped rather than
 * buffered without limit. A comment line every HEARTBEAT_MS keeps proxies
 * from closing an idle stream.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

const MAX_BUFFERED = 1 << 20;
const HEARTBEAT_MS = 15_000;

export class EventStream {
  readonly #clients = new Set<ServerResponse>();
  readonly #maxClients: number;
  readonly #heartbeat: NodeJS.Timeout;
  dropped = 0;

  constructor(maxClients = 32) {
    this.#maxClients = maxClients;
    this.#heartbeat = setInterval(() => this.#write(': heartbeat\n\n'), HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  get clients(): number {
    return this.#clients.size;
  }

  /** Takes the request over as a stream; false (nothing written) when full. */
  attach(req: IncomingMessage, res: ServerResponse, headers: Record<string, string>, hello: unknown): boolean {
    if (this.#clients.size >= this.#maxClients) return false;
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write(`retry: 2000\nevent: hello\ndata: ${JSON.stringify(hello)}\n\n`);
    this.#clients.add(res);
    req.once('close', () => this.#clients.delete(res));
    return true;
  }

  /** One event to every client; JSON.stringify escapes newlines, so one data line always suffices. */
  send(type: string, data: unknown): void {
    this.#write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  #write(text: string): void {
    for (const res of this.#clients) {
      if (res.writableLength > MAX_BUFFERED) {
        this.dropped++;
        this.#clients.delete(res);
        res.destroy();
        continue;
      }
      res.write(text);
    }
  }

  close(): void {
    clearInterval(this.#heartbeat);
    for (const res of this.#clients) res.end();
    this.#clients.clear();
  }
}
