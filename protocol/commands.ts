/**
 * Operator commands on <prefix>/<device>/command, as JSON:
 *   {"command": "set-prompt", "prompt": "How many people?"}   (null: the worker's default)
 *   {"command": "capture"}                                      one frame now
 *   {"command": "pause"} / {"command": "resume"}
 *   {"command": "set-interval", "intervalMs": 5000}
 * An optional "id" is echoed in the status (protocol/status.ts, `lastCommand`)
 * so the operator can match replies.
 */
import { z } from 'zod';
import { UserError } from './errors.ts';
import { parseJsonInput } from './json-input.ts';
import { promptText } from './limits.ts';

const id = z.string().max(128).optional();

export const COMMAND_NAMES = ['set-prompt', 'capture', 'pause', 'resume', 'set-interval'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export const commandSchema = z.discriminatedUnion('command', [
  z.object({ command: z.literal('set-prompt'), prompt: promptText.nullable(), id }).strict(),
  z.object({ command: z.literal('capture'), id }).strict(),
  z.object({ command: z.literal('pause'), id }).strict(),
  z.object({ command: z.literal('resume'), id }).strict(),
  z.object({ command: z.literal('set-interval'), intervalMs: z.number().int().min(0).max(86_400_000), id }).strict(),
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
