/** The console's counters, on the worker's /metrics (metrics.port): what it refused, what it sent, who watches. */
import { Counter, Gauge, type Registry } from 'prom-client';

export class ConsoleMetrics {
  readonly refused: Counter<'kind'>;
  readonly commands: Counter<'command'>;

  constructor(registry: Registry, streams: () => { clients: number; dropped: number }) {
    const registers = [registry];
    this.refused = new Counter({
      name: 'splitoculo_cloud_console_refused_total',
      help: 'status, answer and preview messages the console refused (size, shape, not a JPEG)',
      labelNames: ['kind'],
      registers,
    });
    this.commands = new Counter({ name: 'splitoculo_cloud_console_commands_total', help: 'commands the console sent, by command', labelNames: ['command'], registers });
    new Gauge({
      name: 'splitoculo_cloud_console_streams',
      help: 'open console event streams',
      registers,
      collect() {
        this.set(streams().clients);
      },
    });
    new Counter({
      name: 'splitoculo_cloud_console_streams_dropped_total',
      help: 'event streams closed because the page did not read',
      registers,
      collect() {
        this.reset();
        this.inc(streams().dropped);
      },
    });
  }
}
