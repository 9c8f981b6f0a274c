// A real mosquitto for tests: its own config, port and persistence folder.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject).listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number, log: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`mosquitto did not listen on ${port} within ${timeoutMs} ms${log() ? `: ${log().trim()}` : ''}`);
}

export interface BrokerOptions {
  /** Log every packet (mosquitto's log_type all) into `log`, not only errors and warnings. */
  logPackets?: boolean;
}

export class Mosquitto {
  readonly dir = mkdtempSync(join(tmpdir(), 'splitoculo-mosquitto-'));
  readonly port: number;
  #child: ChildProcess | null = null;
  log = '';

  private constructor(port: number, listeners?: (port: number, dir: string) => string[], options: BrokerOptions = {}) {
    this.port = port;
    // mosquitto started as root drops to its own user before opening files.
    chmodSync(this.dir, 0o777);
    const lines = [
      ...(listeners ? ['per_listener_settings true', ...listeners(port, this.dir)] : [`listener ${port} 127.0.0.1`, 'allow_anonymous true']),
      // Persistence keeps test subscribers' sessions across broker restarts.
      'persistence true',
      `persistence_location ${this.dir}/`,
      'autosave_interval 1',
      'max_queued_messages 100000',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      // Every packet in and out, with its packet id and PUBACK reason code, in `log` (the soak's evidence).
      ...(options.logPackets ? ['log_type all', 'log_timestamp_format %H:%M:%S'] : []),
    ];
    writeFileSync(join(this.dir, 'mosquitto.conf'), `${lines.join('\n')}\n`);
  }

  /** `listeners` replaces the default anonymous listener (TLS, passwords); the first must use `port`. */
  static async start(port?: number, listeners?: (port: number, dir: string) => string[], options: BrokerOptions = {}): Promise<Mosquitto> {
    const broker = new Mosquitto(port ?? (await freePort()), listeners, options);
    try {
      await broker.start();
    } catch (error) {
      await broker.dispose(); // a slow mosquitto would otherwise outlive the test, and its folder stay behind
      throw error;
    }
    return broker;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn('mosquitto', ['-c', join(this.dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    this.#child = child;
    await waitForPort(this.port, 5000, () => this.log);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('close', () => resolve());
      child.kill(signal);
    });
  }

  async restart(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.stop(signal);
    await this.start();
  }

  async dispose(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
