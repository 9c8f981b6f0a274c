/**
 * Operator commands on <prefix>/<device>/command, as JSON:
 *   {"command": "set-prompt", "prompt": "How many people?"}   (null: the worker's default)
 *   {"command": "capture"}                                      one frame now
 *   {"command": "pause"} / {"command": "resume"}
 *   {"command": "set-interval", "intervalMs": 5000}
 *   {"command": "ask", "prompt": "Is the door open?", "id": "req-1"}
 *        capture the newest image now and send it with this prompt and the
 *        request id (wire flag bit 2); the answer envelope echoes the id as
 *        `requestId`. One pending ask per device: a second is refused with a
 *        reason in the status's `lastCommand`; the pending ask is in the
 *        status's `pendingAsk` until its answer arrives or it times out.
 *   {"command": "preview"}                                      one small JPEG on <prefix>/<device>/preview
 * An optional "id" is echoed in the status (protocol/status.ts, `lastCommand`)
 * so the operator can match replies; ask's id is required and is the request id.
 */
import { z } from 'zod';
import { UserError } from './errors.ts';
import { parseJsonInput } from './json-input.ts';
import { promptText } from './limits.ts';
import { REQUEST_ID_MAX_LENGTH, REQUEST_ID_PATTERN } from './wire/frame-layout.ts';

const id = z.string().max(128).optional();

/** A request id as the wire format carries it (protocol/wire/frame-layout.ts): 1..64 of [A-Za-z0-9._:-]. */
export const requestIdSchema = z.string().regex(REQUEST_ID_PATTERN, `expected 1..${REQUEST_ID_MAX_LENGTH} characters of [A-Za-z0-9._:-]`).describe("an operator's request id");

export const COMMAND_NAMES = ['set-prompt', 'capture', 'pause', 'resume', 'set-interval', 'ask', 'preview'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export const commandSchema = z.discriminatedUnion('command', [
  z.object({ command: z.literal('set-prompt'), prompt: promptText.nullable(), id }).strict(),
  z.object({ command: z.literal('capture'), id }).strict(),
  z.object({ command: z.literal('pause'), id }).strict(),
  z.object({ command: z.literal('resume'), id }).strict(),
  z.object({ command: z.literal('set-interval'), intervalMs: z.number().int().min(0).max(86_400_000), id }).strict(),
  z
    .object({
      command: z.literal('ask'),
      prompt: promptText.refine((text) => text.trim().length > 0, 'must not be empty'),
      id: requestIdSchema,
    })
    .strict(),
  z.object({ command: z.literal('preview'), id: requestIdSchema.optional() }).strict(),
]);

export type EdgeCommand = z.infer<typeof commandSchema>;

export class CommandError extends UserError {
  override readonly name = 'CommandError';
}

export function parseCommand(payload: Uint8Array | string): EdgeCommand {
  return parseJsonInput(commandSchema, payload, 'command', (message) => new CommandError(message));
}

export function encodeCommand(command: EdgeCommand): Buffer {
  return Buffer.from(JSON.stringify(commandSchema.parse(command)));
}
