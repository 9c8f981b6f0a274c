// Builders for wire frames in tests.
import { crc32c } from '../../protocol/wire/crc32c.ts';
import { FrameIdGenerator } from '../../protocol/wire/frame-id.ts';
import { encodeFrame, type NeuralFrame } from '../../protocol/wire/frame.ts';
import { quantise, type QuantisationScheme } from '../../protocol/wire/quantise.ts';

export const TEST_MODEL_ID = '0123456789abcdef0123456789abcdef';

export function seededTokens(count: number, width: number, seed = 1): Float32Array {
  // Deterministic pseudo-normal values (sum of uniforms from a small LCG).
  let state = seed >>> 0 || 1;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const out = new Float32Array(count * width);
  for (let i = 0; i < out.length; i++) out[i] = (next() + next() + next() - 1.5) * 2;
  return out;
}

export function sampleFrame(options: { prompt?: string | null; scheme?: QuantisationScheme; deviceId?: string; requestId?: string | null } = {}): NeuralFrame {
  const ids = new FrameIdGenerator({ now: () => 1_764_000_000_000 });
  return {
    codec: 'neural-u8',
    modelId: TEST_MODEL_ID,
    deviceId: options.deviceId ?? 'cam-0123456789ab',
    frameId: ids.next(),
    sequence: 42,
    captureTimeMs: 1_764_000_000_123,
    clockUnreliable: false,
    prompt: options.prompt === undefined ? null : options.prompt,
    requestId: options.requestId ?? null,
    tokens: quantise(seededTokens(49, 64), 49, 64, options.scheme ?? 'per-tensor'),
  };
}

export function sampleFrameBytes(options: Parameters<typeof sampleFrame>[0] = {}): Uint8Array {
  return encodeFrame(sampleFrame(options));
}

/** Rewrites the trailing CRC so a deliberately wrong field reaches the semantic checks. */
export function reseal(bytes: Uint8Array): Uint8Array {
  const out = Uint8Array.from(bytes);
  new DataView(out.buffer).setUint32(out.length - 4, crc32c(out, 0, out.length - 4));
  return out;
}
