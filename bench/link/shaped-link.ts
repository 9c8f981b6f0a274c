/**
 * A shaped path from "the board" to the broker. Kernel shaping when the host
 * allows network namespaces (the edge side runs inside one, its veth shaped by
 * tbf in both directions, the round trip added by a delay relay); otherwise a
 * userspace relay on loopback that does rate and delay itself.
 */
import { DelayRelay } from './delay-relay.ts';
import { NamespaceLink, namespacesAvailable } from './namespace-link.ts';
import type { LinkProfile } from './profiles.ts';

export interface ShapedLink {
  readonly kind: 'netns+tbf' | 'userspace-relay';
  readonly profile: LinkProfile;
  /** Broker URL as seen from the edge side. */
  readonly brokerUrl: string;
  /** The command line that runs a program on the edge side of the link. */
  wrap(command: readonly string[]): string[];
  /** Bytes so far: on the wire (Ethernet/IP/TCP/MQTT) with kernel shaping, MQTT bytes with the relay. */
  bytes(): { up: number; down: number };
  close(): Promise<void>;
}

export async function openShapedLink(profile: LinkProfile, brokerPort: number, prefer: 'auto' | 'netns' | 'relay' = 'auto'): Promise<ShapedLink> {
  if (prefer !== 'relay' && (prefer === 'netns' || namespacesAvailable())) return NamespaceLink.open(profile, brokerPort);
  const relay = new DelayRelay({ listenHost: '127.0.0.1', targetPort: brokerPort, rttMs: profile.rttMs, ...(profile.bytesPerSecond && { bytesPerSecond: profile.bytesPerSecond }) });
  await relay.open();
  return {
    kind: 'userspace-relay',
    profile,
    brokerUrl: `mqtt://127.0.0.1:${relay.port}`,
    wrap: (command) => [...command],
    bytes: () => ({ ...relay.carried }),
    close: () => relay.close(),
  };
}
