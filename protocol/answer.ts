/**
 * The answer envelope the cloud publishes on <prefix>/<device>/answer (QoS 1,
 * JSON). One shape for success and failure: exactly one of `text` or `error`.
 */
import { z } from 'zod';
import { DEVICE_ID_MAX_LENGTH } from './device-id.ts';
import { isFrameId } from './wire/frame-id.ts';
import { parseJsonInput } from './json-input.ts';
import { UserError } from './errors.ts';
import { requestIdSchema } from './commands.ts';

export const ANSWER_ERROR_CODES = [
  'bad-frame', // the frame did not decode (FrameError code in the message)
  'device-mismatch', // topic device differs from the frame header's
  'unknown-model', // no loaded model has the frame's model id
  'unauthenticated', // the device has a key and the frame's tag is missing or wrong (or a key is required)
  'replayed', // a signed frame whose sequence is far behind the device's newest
  'bad-prompt', // the frame's prompt cannot be put to the model (control tokens)
  'answerer-failed', // the language model or vLLM failed
  'deadline-exceeded',
  'overloaded',
] as const;
export type AnswerErrorCode = (typeof ANSWER_ERROR_CODES)[number];

const milliseconds = z.number().finite().nonnegative();

export const answerSchema = z
  .object({
    v: z.literal(1).describe('answer envelope version'),
    frameId: z.string().refine(isFrameId, 'expected a UUIDv7 frame id').nullable().describe('id of the frame answered; null when the frame could not be read'),
    device: z.string().min(1).max(DEVICE_ID_MAX_LENGTH).describe('device that sent the frame'),
    modelId: z
      .string()
      .regex(/^[0-9a-f]{32}$/)
      .nullable()
      .describe('model id from the frame header; null when the frame could not be read'),
    sequence: z.number().int().nonnegative().optional().describe("device's sequence number of the frame"),
    prompt: z.string().nullable().describe('question asked, null for the default prompt'),
    requestId: requestIdSchema.nullable().optional().describe("the operator's ask this answers (the frame's request id); absent or null for scheduled frames"),
    text: z.string().optional().describe('the answer'),
    tokens: z.number().int().nonnegative().optional().describe('generated token count'),
    error: z
      .object({ code: z.enum(ANSWER_ERROR_CODES), message: z.string().max(2000) })
      .optional()
      .describe('why no answer could be given'),
    timings: z
      .object({
        queueMs: milliseconds.optional(),
        decodeMs: milliseconds.optional(),
        cloudMs: milliseconds.optional(),
        tailMs: milliseconds.optional(),
        languageModelMs: milliseconds.optional(),
        totalMs: milliseconds,
      })
      .describe('where the time went, in the worker'),
    worker: z.string().optional().describe('worker instance that answered'),
    answeredAt: z.string().datetime().describe('ISO 8601 time the answer was published'),
  })
  .strict()
  .refine((a) => (a.text === undefined) !== (a.error === undefined), {
    message: 'exactly one of text or error must be present',
  })
  .refine((a) => a.frameId !== null || a.error?.code === 'bad-frame' || a.error?.code === 'unauthenticated', {
    message: 'frameId may only be null in a bad-frame or unauthenticated error (a frame that was not read)',
  });

/**
 * The answer envelope: what travels on the answer topic. (The language
 * model's own output inside the worker is a Generation, cloud/answer/answerer.ts.)
 */
export type AnswerEnvelope = z.infer<typeof answerSchema>;

export class AnswerError extends UserError {
  override readonly name = 'AnswerError';
}

/** Parse answer JSON bytes; the error names the first offending path. */
export function parseAnswer(payload: Uint8Array | string): AnswerEnvelope {
  return parseJsonInput(answerSchema, payload, 'answer', (message) => new AnswerError(message));
}

export function encodeAnswer(answer: AnswerEnvelope): Buffer {
  return Buffer.from(JSON.stringify(answerSchema.parse(answer)));
}
