/**
 * The status document: retained on <prefix>/<device>/status (QoS 1, JSON).
 *
 *   online   {"state":"online","device":"cam1", ...StatusBody, "at":"<ISO time>"}
 *            published by the daemon at every connect, on every change (command,
 *            ask, preview, answer to an ask) and every `status.intervalSeconds`
 *   offline  {"state":"offline","device":"cam1","at":"<ISO time>"}
 *            published by the daemon on a clean stop; the MQTT will carries the
 *            same document without `at` (it is fixed at connect time, so any
 *            time in it would be wrong when the broker sends it)
 *
 * One schema and one builder per state: every document the daemon publishes
 * is built here and validated against this schema, so a field cannot appear
 * on the wire without being written down first.
 */
import { z } from 'zod';
import { CODEC_SETTINGS, FRAME_CODECS } from './codec-names.ts';
import { COMMAND_NAMES, requestIdSchema } from './commands.ts';
import { DEVICE_ID_MAX_LENGTH } from './device-id.ts';
import { UserError } from './errors.ts';
import { parseJsonInput } from './json-input.ts';

const count = z.number().int().nonnegative();
const at = z.string().datetime().describe('ISO 8601 time the document was published');
const device = z.string().min(1).max(DEVICE_ID_MAX_LENGTH).describe('device id');

/**
 * The reply to the last command received: applied, or why it was refused
 * (nothing changed then). A refusal of a well-formed command (a second ask
 * while one is pending) names the command and its id; a malformed one cannot.
 */
export const lastCommandSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), command: z.enum(COMMAND_NAMES), id: z.string().optional(), at }).strict(),
  z.object({ ok: z.literal(false), command: z.enum(COMMAND_NAMES).optional(), id: z.string().optional(), error: z.string(), at }).strict(),
]);
export type LastCommand = z.infer<typeof lastCommandSchema>;

/** The operator's ask that is waiting for its answer (one per device). */
export const pendingAskSchema = z.object({ id: requestIdSchema, prompt: z.string(), since: at.describe('ISO 8601 time the ask was received') }).strict();
export type PendingAsk = z.infer<typeof pendingAskSchema>;

/** How the last ask ended: its answer arrived (text or error), or it timed out. */
export const lastAskSchema = z.object({ id: requestIdSchema, outcome: z.enum(['answered', 'failed', 'timed-out']), at }).strict();
export type LastAsk = z.infer<typeof lastAskSchema>;

/** What the online document says about the daemon; built by daemon/parts/status-reporter.ts. */
export const statusBodySchema = z
  .object({
    version: z.string().describe('daemon version'),
    node: z.string().describe('Node.js version'),
    modelId: z
      .string()
      .regex(/^[0-9a-f]{32}$/)
      .optional()
      .describe('edge model id'),
    codec: z.enum(CODEC_SETTINGS).describe('encoding.codec as configured'),
    link: z
      .object({ rttMs: z.number().nonnegative().optional(), bytesPerSecond: z.number().nonnegative().optional(), samples: count })
      .strict()
      .optional()
      .describe("the daemon's current link estimate"),
    paused: z.boolean(),
    intervalMs: count,
    prompt: z.string().nullable().describe('prompt sent with new frames; null for the worker default'),
    queue: z
      .object({ frames: count, bytes: count, evicted: z.record(z.string(), count), rejected: count })
      .strict()
      .optional()
      .describe('the outbox'),
    captured: count.describe('images taken since start'),
    lastCommand: lastCommandSchema.optional(),
    pendingAsk: pendingAskSchema.nullable().optional().describe('the ask waiting for its answer; null when none'),
    lastAsk: lastAskSchema.optional().describe('how the last finished ask ended'),
    codecs: z
      .object(Object.fromEntries(FRAME_CODECS.map((codec) => [codec, count])) as Record<(typeof FRAME_CODECS)[number], typeof count>)
      .strict()
      .optional()
      .describe('frames produced since start, by codec'),
    lastFrameAt: at.optional().describe('ISO 8601 time the newest frame was captured'),
    lastAnswerAt: at.optional().describe('ISO 8601 time the newest answer arrived'),
    lastPreviewAt: at.optional().describe('ISO 8601 time the newest preview was published'),
    model: z.string().optional().describe("the edge model's name (its manifest)"),
    publishDenied: z
      .object({ code: count, reason: z.string(), frames: count, since: at })
      .strict()
      .optional()
      .describe('frames the broker refuses (MQTT 5 PUBACK reason >= 0x80, e.g. 0x87 not authorized): queued, offered again every mqtt.backoffMaxMs; absent when none'),
  })
  .strict();
export type StatusBody = z.infer<typeof statusBodySchema>;

export const onlineStatusSchema = z.object({ state: z.literal('online'), device, ...statusBodySchema.shape, at }).strict();
export const offlineStatusSchema = z.object({ state: z.literal('offline'), device, at: at.optional() }).strict();
export const statusSchema = z.discriminatedUnion('state', [onlineStatusSchema, offlineStatusSchema]);

export type OnlineStatus = z.infer<typeof onlineStatusSchema>;
export type OfflineStatus = z.infer<typeof offlineStatusSchema>;
export type StatusDocument = z.infer<typeof statusSchema>;

/** A status document that does not match the schema (bad input when parsed; a bug when built). */
export class StatusError extends UserError {
  override readonly name = 'StatusError';
}

function checked<S extends z.ZodType>(schema: S, document: unknown): z.infer<S> {
  const result = schema.safeParse(document);
  if (!result.success) throw new StatusError(`status: ${result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return result.data;
}

/** The online document; `body` fields that JSON cannot hold (undefined) are left out as JSON would. */
export function onlineStatus(deviceId: string, body: StatusBody, now: Date = new Date()): OnlineStatus {
  return checked(onlineStatusSchema, { state: 'online', device: deviceId, ...body, at: now.toISOString() });
}

/** The offline document; without `now` it is the MQTT will's (no time). */
export function offlineStatus(deviceId: string, now?: Date): OfflineStatus {
  return checked(offlineStatusSchema, { state: 'offline', device: deviceId, ...(now && { at: now.toISOString() }) });
}

export function encodeStatus(document: StatusDocument): Buffer {
  return Buffer.from(JSON.stringify(document));
}

/** For whoever reads the retained topic (operators, tests, a console). */
export function parseStatus(payload: Uint8Array | string): StatusDocument {
  return parseJsonInput(statusSchema, payload, 'status', (message) => new StatusError(message));
}
