/** The metrics endpoint as a part: served from start when `metrics.port` is set, closed at stop. */
import type { Logger } from 'pino';
import type { EdgeConfig } from '../config/schema.ts';
import type { Part } from '../controller.ts';
import type { EdgeMetrics } from './metrics.ts';

export class MetricsEndpoint implements Part {
  readonly #metrics: EdgeMetrics;
  readonly #config: EdgeConfig['metrics'];
  readonly #log: Logger;
  /** The port listened on (useful with port 0); null when not served. */
  port: number | null = null;

  constructor(metrics: EdgeMetrics, config: EdgeConfig['metrics'], log: Logger) {
    this.#metrics = metrics;
    this.#config = config;
    this.#log = log;
  }

  async start(): Promise<void> {
    if (this.#config.port === undefined) return;
    this.port = await this.#metrics.serve(this.#config.port, this.#config.host);
    this.#log.info({ port: this.port, host: this.#config.host }, 'metrics at /metrics');
  }

  stop(): Promise<void> {
    return this.#metrics.close();
  }
}
