/**
 * The ways a frame can travel, side by side. The daemon's codecs run in the
 * real edge daemon; the raw file and the seed's payload have no place in the
 * daemon, so a small sender publishes them over the same link (plain-sender.ts).
 */
export type MethodName = 'neural' | 'jpeg-q85' | 'jpeg-q95' | 'raw' | 'seed-json' | 'auto';

export interface Method {
  name: MethodName;
  title: string;
  /** Edge daemon settings (encoding section), or null for the plain sender. */
  daemon: { codec: 'neural' | 'jpeg' | 'auto'; jpegQuality: number } | null;
}

export const METHODS: readonly Method[] = [
  { name: 'neural', title: 'neural (wire frame)', daemon: { codec: 'neural', jpegQuality: 85 } },
  { name: 'jpeg-q85', title: 'JPEG Q85 of the crop', daemon: { codec: 'jpeg', jpegQuality: 85 } },
  { name: 'jpeg-q95', title: 'JPEG Q95 of the crop', daemon: { codec: 'jpeg', jpegQuality: 95 } },
  { name: 'raw', title: 'raw sample file', daemon: null },
  { name: 'seed-json', title: "seed's base64 JSON", daemon: null },
  { name: 'auto', title: 'codec: auto', daemon: { codec: 'auto', jpegQuality: 85 } },
];

/** Topic of the plain sender's messages: the capture time rides in the topic, so the payload stays what it is. */
export function plainTopic(method: 'raw' | 'seed-json', device: string, captureTimeMs: number, label: string): string {
  return `splitoculo-bench/${method}/${device}/${captureTimeMs}/${label.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

export function parsePlainTopic(topic: string): { method: 'raw' | 'seed-json'; device: string; captureTimeMs: number; label: string } | null {
  const match = /^splitoculo-bench\/(raw|seed-json)\/([^/]+)\/(\d+)\/([^/]+)$/.exec(topic);
  if (!match) return null;
  return { method: match[1] as 'raw' | 'seed-json', device: match[2]!, captureTimeMs: Number(match[3]), label: match[4]! };
}
