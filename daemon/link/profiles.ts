/**
 * Link presets. A BLE bridge moves 26-125 KB/s with ~60 ms round trips; a
 * cellular modem drops for minutes; a LAN neither. Explicit mqtt.* settings
 * override the preset field by field.
 */
import type { EdgeConfig } from '../config/schema.ts';

export interface LinkSettings {
  keepaliveSeconds: number;
  inflight: number;
  pubackTimeoutMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  bytesPerSecond: number | undefined;
  bytesPerDay: number | undefined;
}

export const LINK_PRESETS: Record<EdgeConfig['mqtt']['link'], Omit<LinkSettings, 'bytesPerSecond' | 'bytesPerDay'>> = {
  // A few frames in flight fill a BLE link (3 KB at 62.5 KB/s is 50 ms); long
  // PUBACK timeouts because a busy bridge queues.
  ble: { keepaliveSeconds: 60, inflight: 4, pubackTimeoutMs: 15_000, backoffInitialMs: 1_000, backoffMaxMs: 60_000 },
  // Drops last minutes: back off far, keep NAT mappings alive without waking the radio too often.
  cellular: { keepaliveSeconds: 120, inflight: 8, pubackTimeoutMs: 30_000, backoffInitialMs: 2_000, backoffMaxMs: 300_000 },
  lan: { keepaliveSeconds: 30, inflight: 32, pubackTimeoutMs: 5_000, backoffInitialMs: 200, backoffMaxMs: 10_000 },
};

export function linkSettings(mqtt: EdgeConfig['mqtt']): LinkSettings {
  const preset = LINK_PRESETS[mqtt.link];
  return {
    keepaliveSeconds: mqtt.keepaliveSeconds ?? preset.keepaliveSeconds,
    inflight: mqtt.inflight ?? preset.inflight,
    pubackTimeoutMs: mqtt.pubackTimeoutMs ?? preset.pubackTimeoutMs,
    backoffInitialMs: mqtt.backoffInitialMs ?? preset.backoffInitialMs,
    backoffMaxMs: mqtt.backoffMaxMs ?? preset.backoffMaxMs,
    bytesPerSecond: mqtt.bytesPerSecond,
    bytesPerDay: mqtt.bytesPerDay,
  };
}

/** Exponential backoff with full jitter: uniform in [0, min(max, initial * 2^attempt)]. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(random() * ceiling);
}
