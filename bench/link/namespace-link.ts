/**
 * Kernel shaping: a network namespace for the edge side, a veth pair into it,
 * tbf on both ends (the rate each way, enforced on real packets), a delay
 * relay in the root namespace for the round trip. Byte counts come from the
 * veth's interface counters: everything on the wire, TCP/IP headers included.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { DelayRelay } from './delay-relay.ts';
import type { LinkProfile } from './profiles.ts';
import type { ShapedLink } from './shaped-link.ts';

let counter = 0;
/** Namespaces this process made: removed at exit, also after Ctrl-C, or they would outlive the bench. */
const open = new Set<string>();
process.on('exit', () => {
  for (const namespace of open) {
    try {
      execFileSync('ip', ['netns', 'del', namespace], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Root and `ip netns` working: true on this project's CI hosts; false in an unprivileged container. */
export function namespacesAvailable(): boolean {
  const name = `sob-probe-${process.pid}`;
  try {
    ip('netns', 'add', name);
    ip('netns', 'del', name);
    execFileSync('tc', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function tbf(device: string, bytesPerSecond: number, namespace?: string): void {
  // A one-packet bucket: a bigger one lets a whole small frame through at veth speed after the link idled,
  // which no radio does (a 4.5 KB bucket made the 3 KB neural frame free on every link).
  const burst = Math.max(1_600, Math.round(bytesPerSecond * 0.001));
  // Queue up to half a second of data, as a radio modem or a BLE bridge would, then drop (TCP backs off).
  const limit = Math.max(64_000, Math.round(bytesPerSecond * 0.5));
  const args = ['qdisc', 'add', 'dev', device, 'root', 'tbf', 'rate', `${bytesPerSecond * 8}bit`, 'burst', String(burst), 'limit', String(limit)];
  execFileSync(namespace ? 'ip' : 'tc', namespace ? ['netns', 'exec', namespace, 'tc', ...args] : args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export class NamespaceLink implements ShapedLink {
  readonly kind = 'netns+tbf' as const;
  readonly profile: LinkProfile;
  readonly brokerUrl: string;
  readonly #namespace: string;
  readonly #hostVeth: string;
  readonly #relay: DelayRelay;

  private constructor(profile: LinkProfile, namespace: string, hostVeth: string, relay: DelayRelay, hostIp: string) {
    this.profile = profile;
    this.#namespace = namespace;
    this.#hostVeth = hostVeth;
    this.#relay = relay;
    this.brokerUrl = `mqtt://${hostIp}:${relay.port}`;
  }

  static async open(profile: LinkProfile, brokerPort: number): Promise<NamespaceLink> {
    const id = `${process.pid % 10_000}${counter++}`;
    const namespace = `sob-${id}`;
    const hostVeth = `sobh${id}`;
    const edgeVeth = `sobe${id}`;
    const subnet = 10 + ((process.pid + counter) % 240);
    const hostIp = `10.231.${subnet}.1`;
    const edgeIp = `10.231.${subnet}.2`;
    ip('netns', 'add', namespace);
    open.add(namespace);
    try {
      ip('link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', edgeVeth);
      ip('link', 'set', edgeVeth, 'netns', namespace);
      ip('addr', 'add', `${hostIp}/30`, 'dev', hostVeth);
      ip('link', 'set', hostVeth, 'up');
      ip('netns', 'exec', namespace, 'ip', 'addr', 'add', `${edgeIp}/30`, 'dev', edgeVeth);
      ip('netns', 'exec', namespace, 'ip', 'link', 'set', edgeVeth, 'up');
      ip('netns', 'exec', namespace, 'ip', 'link', 'set', 'lo', 'up');
      if (profile.bytesPerSecond !== undefined) {
        tbf(edgeVeth, profile.bytesPerSecond, namespace); // up: board -> broker
        tbf(hostVeth, profile.bytesPerSecond); // down: broker -> board
      }
      const relay = new DelayRelay({ listenHost: hostIp, targetPort: brokerPort, rttMs: profile.rttMs });
      await relay.open();
      return new NamespaceLink(profile, namespace, hostVeth, relay, hostIp);
    } catch (error) {
      try {
        ip('netns', 'del', namespace);
        open.delete(namespace);
      } catch {
        // already gone
      }
      throw error;
    }
  }

  wrap(command: readonly string[]): string[] {
    return ['ip', 'netns', 'exec', this.#namespace, ...command];
  }

  bytes(): { up: number; down: number } {
    const read = (name: string) => Number(readFileSync(`/sys/class/net/${this.#hostVeth}/statistics/${name}`, 'utf8'));
    return { up: read('rx_bytes'), down: read('tx_bytes') };
  }

  async close(): Promise<void> {
    await this.#relay.close();
    try {
      ip('netns', 'del', this.#namespace); // takes the veth pair with it
      open.delete(this.#namespace);
    } catch {
      // already gone
    }
  }
}
