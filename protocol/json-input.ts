/**
 * JSON that arrives from outside (MQTT payloads, files): parse, validate with
 * a zod schema, and fail with one message naming the input and the first
 * offending paths.
 */
import type { z } from 'zod';

export function formatIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`).join('; ');
}

import { MAX_JSON_INPUT_BYTES } from './limits.ts';

export { MAX_JSON_INPUT_BYTES };

export function parseJsonInput<S extends z.ZodType>(schema: S, payload: Uint8Array | string, what: string, makeError: (message: string) => Error): z.infer<S> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > MAX_JSON_INPUT_BYTES) throw makeError(`${what}: ${size} bytes, at most ${MAX_JSON_INPUT_BYTES} allowed`);
  let json: unknown;
  try {
    json = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8'));
  } catch (error) {
    throw makeError(`${what}: not JSON (${(error as Error).message})`);
  }
  const result = schema.safeParse(json);
  if (!result.success) throw makeError(`${what}: ${formatIssues(result.error)}`);
  return result.data;
}
