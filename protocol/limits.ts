/**
 * Every size limit that more than one part must agree on, in bytes, in one
 * place: the wire format, the command and config schemas, the MQTT maximum
 * packet sizes and the readers all take them from here. A limit counted in
 * characters by one part and in bytes by another let a valid command (1,024
 * "€" = 3,072 bytes) produce frames the wire format refuses.
 */
import { z } from 'zod';

/** A prompt's UTF-8 bytes in a frame (its length field is 16 bits; questions are a sentence or two). */
export const PROMPT_MAX_BYTES = 1024;
/** A whole wire frame: payload limit plus headroom; larger frames are refused before parsing. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;
/** Answers and commands are a few hundred bytes; anything near this is hostile and refused unread. */
export const MAX_JSON_INPUT_BYTES = 64 * 1024;
/** A preview (<prefix>/<device>/preview): one JPEG thumbnail, sent only on request; small enough for any link. */
export const PREVIEW_MAX_BYTES = 16 * 1024;
/** The preview's longest side in pixels. */
export const PREVIEW_MAX_SIDE = 320;

export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** A prompt as commands and settings take it: at most PROMPT_MAX_BYTES of UTF-8, so every frame it goes into can be sent. */
export const promptText = z.string().superRefine((text, context) => {
  const bytes = utf8Bytes(text);
  if (bytes > PROMPT_MAX_BYTES) context.addIssue({ code: 'custom', message: `${bytes} bytes of UTF-8, at most ${PROMPT_MAX_BYTES} allowed` });
});
