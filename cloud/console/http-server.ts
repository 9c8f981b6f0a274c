/**
 * The console's HTTP side (node:http): the bundled page, a JSON API, the
 * login page and the event stream. Every route but /login needs access
 * (access.ts). Commands are POSTed as JSON only, so a form on another site
 * cannot send one (it cannot set that content type without CORS, which is
 * never granted); bodies are read up to a small limit before parsing.
 */
import { listenExplained } from '../../runtime/listen.ts';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { UserError } from '../../protocol/errors.ts';
import type { ConsoleAccess } from './access.ts';
import { ASSETS } from './assets.generated.ts';
import type { EventStream } from './event-stream.ts';
import type { DeviceView } from './fleet.ts';
import type { HistoryRow } from './history-store.ts';

export class ConsolePortError extends UserError {
  override readonly name = 'ConsolePortError';
}

/** A request the console refuses with a reason (a bad command, an unknown device): 4xx with the message. */
export class ConsoleRequestError extends UserError {
  override readonly name = 'ConsoleRequestError';
  readonly status: number;
  constructor(message: string, status = 400) {
    super(message);
    this.status = status;
  }
}

export interface ConsoleBackend {
  readonly connected: boolean;
  devices(): DeviceView[];
  device(id: string): DeviceView | null;
  history(id: string, limit: number): HistoryRow[];
  preview(id: string): Buffer | null;
  /** Sends a command; for ask and preview fills in a request id when there is none. */
  command(id: string, body: unknown): Promise<{ id: string | null }>;
}

const MAX_BODY_BYTES = 8 * 1024;
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const ROUTES: Record<string, string> = { '/': 'index.html', '/index.html': 'index.html', '/app.js': 'app.js', '/app.css': 'app.css', '/login': 'login.html' };
const zipped = new Map(Object.entries(ASSETS).map(([name, asset]) => [name, gzipSync(asset.body)]));

function send(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  const gzip = body.length > 1024 && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  const bytes = gzip ? gzipSync(body) : body;
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': 'no-store', ...(gzip && { 'content-encoding': 'gzip' }), ...extra });
  res.end(bytes);
}

const json = (req: IncomingMessage, res: ServerResponse, status: number, value: unknown) => send(req, res, status, 'application/json; charset=utf-8', JSON.stringify(value));

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) return reject(new ConsoleRequestError(`request body: ${declared} bytes, at most ${MAX_BODY_BYTES}`, 413));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new ConsoleRequestError(`request body: more than ${MAX_BODY_BYTES} bytes`, 413));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export class ConsoleHttpServer {
  readonly #backend: ConsoleBackend;
  readonly #access: ConsoleAccess;
  readonly #events: EventStream;
  #server: Server | null = null;

  constructor(backend: ConsoleBackend, access: ConsoleAccess, events: EventStream) {
    this.#backend = backend;
    this.#access = access;
    this.#events = events;
  }

  /** Listens; returns the port (useful with 0). The error names console.port/console.host. */
  async listen(port: number, host: string): Promise<number> {
    const server = createServer((req, res) => {
      this.#route(req, res).catch((error: unknown) => {
        if (res.headersSent) return void res.destroy();
        if (error instanceof ConsoleRequestError) return json(req, res, error.status, { error: error.message });
        if (error instanceof UserError) return json(req, res, 503, { error: error.message });
        json(req, res, 500, { error: 'internal error' });
      });
    });
    this.#server = server;
    try {
      return await listenExplained(server, port, host, 'console', (message) => new ConsolePortError(message));
    } catch (error) {
      this.#server = null;
      throw error;
    }
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://console');
    const path = url.pathname;
    if (path === '/login') return this.#login(req, res);
    if (!this.#access.allows(req)) {
      if (this.#access.open) return json(req, res, 403, { error: 'this console answers loopback host names only (localhost, 127.0.0.1, [::1])' });
      if (path.startsWith('/api/')) return json(req, res, 401, { error: 'unauthorised: send the console token (Authorization: Bearer) or log in at /login' });
      res.writeHead(303, { ...SECURITY_HEADERS, location: '/login' }).end();
      return;
    }
    const asset = ROUTES[path];
    if (asset && req.method === 'GET') return this.#asset(req, res, asset);
    if (path === '/api/events' && req.method === 'GET') {
      if (!this.#events.attach(req, res, SECURITY_HEADERS, { connected: this.#backend.connected, devices: this.#backend.devices() })) json(req, res, 503, { error: 'too many open consoles' });
      return;
    }
    if (path === '/api/devices' && req.method === 'GET') return json(req, res, 200, { connected: this.#backend.connected, devices: this.#backend.devices() });
    const match = path.match(/^\/api\/devices\/([^/]+)(?:\/(history|preview\.jpg|command))?$/);
    if (!match) return json(req, res, 404, { error: `no such page: ${path}` });
    let id: string;
    try {
      id = decodeURIComponent(match[1]!);
    } catch {
      return json(req, res, 400, { error: 'device id: not a valid URL escape' });
    }
    const part = match[2];
    if (part === 'command' && req.method === 'POST') return this.#command(req, res, id);
    if (req.method !== 'GET') return json(req, res, 405, { error: `${req.method} not allowed here` });
    if (part === 'preview.jpg') {
      const jpeg = this.#backend.preview(id);
      if (!jpeg) return json(req, res, 404, { error: 'no preview yet: ask for one' });
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'image/jpeg', 'cache-control': 'no-store', 'content-length': String(jpeg.length) }).end(jpeg);
      return;
    }
    const limit = Math.max(1, Math.min(Number(url.searchParams.get('limit')) || 200, 1000));
    if (part === 'history') return json(req, res, 200, { history: this.#backend.history(id, limit) });
    const device = this.#backend.device(id);
    if (!device) return json(req, res, 404, { error: 'unknown device' });
    return json(req, res, 200, { device, history: this.#backend.history(id, limit) });
  }

  #asset(req: IncomingMessage, res: ServerResponse, name: string): void {
    const asset = ASSETS[name]!;
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': asset.type, 'cache-control': 'no-cache', etag: asset.etag, ...(gzip && { 'content-encoding': 'gzip' }) });
    res.end(gzip ? zipped.get(name) : asset.body);
  }

  async #command(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) throw new ConsoleRequestError('commands are sent as application/json', 415);
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch (error) {
      if (error instanceof ConsoleRequestError) throw error;
      throw new ConsoleRequestError(`command: not JSON (${(error as Error).message})`);
    }
    json(req, res, 202, await this.#backend.command(id, body));
  }

  async #login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'GET') return this.#asset(req, res, 'login.html');
    if (req.method !== 'POST') return json(req, res, 405, { error: `${req.method} not allowed here` });
    const token = new URLSearchParams(await readBody(req)).get('token') ?? '';
    const cookie = this.#access.login(token);
    if (cookie === null) return send(req, res, 401, ASSETS['login.html']!.type, ASSETS['login.html']!.body.replace('<!--message-->', '<p class="error" role="alert">That token is not right.</p>'));
    res.writeHead(303, { ...SECURITY_HEADERS, location: '/', 'set-cookie': cookie }).end();
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}
