/**
 * The connection settings both programs' `mqtt` sections share, composed into
 * daemon/config/schema.ts and cloud/config/schema.ts so that a broker is
 * addressed, authenticated and trusted the same way on both sides. Secrets
 * come from files only (SECURITY.md): a password in the URL or in a
 * `password` setting is refused with a line that says which setting to use.
 */
import { z } from 'zod';
import { DEFAULT_TOPIC_PREFIX, topicPrefixProblem } from '../protocol/topics.ts';

const USE_THE_FILE = 'put the password in a file (mode 600) and set mqtt.passwordFile';

/** Whether a broker URL carries a password (mqtt://user:secret@host). */
export function urlHasPassword(url: string): boolean {
  try {
    return new URL(url).password !== '';
  } catch {
    return /\/\/[^:@/]*:[^@/]*@/.test(url);
  }
}

export const brokerUrl = z
  .string()
  .min(1)
  .superRefine((url, ctx) => {
    if (urlHasPassword(url)) ctx.addIssue({ code: 'custom', message: `the URL carries a password; ${USE_THE_FILE}` });
  });

/** `mqtt.password`: kept in the schema only to refuse it by name (a strict schema would call it merely unrecognised). */
export const plaintextPassword = z
  .never({ error: () => `a plaintext password is not accepted; ${USE_THE_FILE}` })
  .optional()
  .describe('not accepted: use passwordFile');

export const topicPrefix = z
  .string()
  .default(DEFAULT_TOPIC_PREFIX)
  .superRefine((p, ctx) => {
    const problem = topicPrefixProblem(p);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** Spread into a z.object next to the program's own fields (url, clientId and timing differ per program). */
export const mqttConnectionFields = {
  username: z.string().optional(),
  passwordFile: z.string().min(1).optional().describe('file holding the password (its first line)'),
  ca: z.string().min(1).optional().describe('CA certificate file (mqtts)'),
  cert: z.string().min(1).optional().describe('client certificate file (mutual TLS)'),
  key: z.string().min(1).optional().describe('client key file (mutual TLS)'),
  topicPrefix,
};
