/**
 * One codec vocabulary. A frame is encoded either `neural` (the bottleneck
 * tokens) or `jpeg` (the preprocessed crop); `auto` lets the daemon pick per
 * frame. These names are what config (`encoding.codec`), metrics
 * (`splitoculo_frames_by_codec_total{codec}`) and the status document use.
 * The wire format names its codec ids more precisely (protocol/wire/codecs.ts:
 * `neural-u8` says how the tokens are quantised, leaving room for
 * `neural-u8-rans`); `WIRE_CODEC` and `frameCodec` are the only mapping
 * between the two.
 */
import type { CodecName } from './wire/codecs.ts';

export const FRAME_CODECS = ['neural', 'jpeg'] as const;
export type FrameCodec = (typeof FRAME_CODECS)[number];

/** What `encoding.codec` accepts: a fixed codec, or `auto`. */
export const CODEC_SETTINGS = [...FRAME_CODECS, 'auto'] as const;
export type CodecSetting = (typeof CODEC_SETTINGS)[number];

export const WIRE_CODEC = { neural: 'neural-u8', jpeg: 'jpeg' } as const satisfies Readonly<Record<FrameCodec, CodecName>>;

/** The frame codec of a wire codec name; null for wire codecs this version cannot produce. */
export function frameCodec(wire: CodecName): FrameCodec | null {
  for (const codec of FRAME_CODECS) if (WIRE_CODEC[codec] === wire) return codec;
  return null;
}
