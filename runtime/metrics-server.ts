/** Serves a prom-client registry as Prometheus text on /metrics (both commands use it). */
import { createServer, type Server } from 'node:http';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { UserError } from '../protocol/errors.ts';
import { listenExplained } from './listen.ts';

/** The configured metrics address cannot be listened on (in use, not on this machine, not allowed). */
export class MetricsPortError extends UserError {
  override readonly name = 'MetricsPortError';
}

export class MetricsServer {
  readonly #registry: Registry;
  #server: Server | null = null;

  constructor(registry: Registry) {
    this.#registry = registry;
  }

  /** Listens and returns the port (useful with port 0). */
  async serve(port: number, host: string): Promise<number> {
    const server = createServer(async (req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end('not found; try /metrics\n');
        return;
      }
      res.writeHead(200, { 'content-type': this.#registry.contentType }).end(await this.#registry.metrics());
    });
    this.#server = server;
    try {
      return await listenExplained(server, port, host, 'metrics', (message) => new MetricsPortError(message), true);
    } catch (error) {
      this.#server = null;
      throw error;
    }
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}

/** Base of each program's metrics: a registry with Node's process metrics, served on request. */
export class ServedMetrics {
  readonly registry = new Registry();
  readonly #server = new MetricsServer(this.registry);

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Serves /metrics; returns the port (useful with port 0). */
  serve(port: number, host: string): Promise<number> {
    return this.#server.serve(port, host);
  }

  close(): Promise<void> {
    return this.#server.close();
  }
}
