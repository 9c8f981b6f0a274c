/** The links of the seed's bandwidth table, with round trips of the real thing. KB = 1,000 bytes. */
export interface LinkProfile {
  name: string;
  /** Each direction; undefined: unshaped. */
  bytesPerSecond: number | undefined;
  rttMs: number;
  /** The daemon's mqtt.link preset that fits. */
  preset: 'ble' | 'cellular' | 'lan';
}

export const PROFILES: readonly LinkProfile[] = [
  { name: 'BLE-low', bytesPerSecond: 62_500, rttMs: 60, preset: 'ble' },
  { name: 'BLE', bytesPerSecond: 125_000, rttMs: 60, preset: 'ble' },
  { name: '3G', bytesPerSecond: 250_000, rttMs: 100, preset: 'cellular' },
  { name: '4G', bytesPerSecond: 1_250_000, rttMs: 100, preset: 'cellular' },
  { name: 'LAN', bytesPerSecond: undefined, rttMs: 0, preset: 'lan' },
];

export function profileByName(name: string): LinkProfile {
  const profile = PROFILES.find((p) => p.name.toLowerCase() === name.toLowerCase());
  if (!profile) throw new Error(`unknown link profile ${name}; known: ${PROFILES.map((p) => p.name).join(', ')}`);
  return profile;
}
