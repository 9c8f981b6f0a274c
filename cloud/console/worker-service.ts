/**
 * The worker as `run` starts it: the cloud worker, and when console.port is
 * set the operator console beside it, started after the worker (it needs the
 * embedded broker's port) and stopped before it (no command goes out while
 * the worker finishes its frames).
 */
import type { Logger } from 'pino';
import type { Service } from '../../runtime/service.ts';
import type { CloudConfig } from '../config/schema.ts';
import { CloudWorker } from '../worker/cloud-worker.ts';
import { OperatorConsole } from './operator-console.ts';

export class WorkerService implements Service {
  readonly worker: CloudWorker;
  console: OperatorConsole | null = null;
  readonly #config: CloudConfig;
  readonly #log: Logger;

  constructor(config: CloudConfig, log: Logger) {
    this.#config = config;
    this.#log = log;
    this.worker = new CloudWorker(config, log, { onFrameTaken: (...frame) => this.console?.frameTaken(...frame) });
  }

  async start(): Promise<void> {
    await this.worker.start();
    if (this.#config.console.port === undefined) return;
    const { workerId, topics, brokerPort } = this.worker;
    this.console = new OperatorConsole(this.#config, { workerId, topics, brokerPort, log: this.#log, registry: this.worker.metrics.registry });
    await this.console.start();
  }

  async stop(): Promise<void> {
    await this.console?.stop();
    await this.worker.stop();
  }
}
