/**
 * The `console` section: the operator console the worker serves
 * (cloud/console/). Off unless `port` is set. On loopback it needs nothing
 * more; on any other address it needs an access token from a file, because
 * the console sends commands to cameras: without one the worker refuses to
 * start (this schema's refinement, reported as one config line).
 */
import { z } from 'zod';
import { brokerUrl, mqttConnectionFields, plaintextPassword } from '../../runtime/mqtt-config.ts';

/** Addresses only this machine can reach; anything else is "beyond loopback". */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

const { topicPrefix: _prefix, ...connection } = mqttConnectionFields;

/** The console's own MQTT connection (status, answers, previews in; commands out). Unset fields: the worker's. */
export const consoleMqttSchema = z
  .object({
    url: brokerUrl.optional().describe("broker URL; default: the worker's mqtt.url (or the embedded broker)"),
    ...connection,
    password: plaintextPassword,
    clientId: z.string().min(1).max(128).optional().describe('default: splitoculo-console-<worker id>'),
  })
  .strict()
  .describe("credentials allowed to write commands (the deploy ACL's splitoculo-operator); default: the worker's own");

export const consoleSchema = z
  .object({
    port: z.number().int().min(0).max(65_535).optional().describe('HTTP port of the operator console; unset: off'),
    host: z.string().min(1).default('127.0.0.1').describe('address it listens on; beyond loopback it requires tokenFile'),
    tokenFile: z.string().min(1).optional().describe('file holding the access token (mode 600, at least 16 characters); required beyond loopback'),
    historyPath: z.string().min(1).optional().describe("SQLite file of the answers shown in the console's history; default: beside dedup.path"),
    historyPerDevice: z.number().int().min(1).max(100_000).default(500).describe('answers kept per device (the oldest go first)'),
    historyTotal: z.number().int().min(1).max(10_000_000).default(50_000).describe('answers kept in all'),
    maxDevices: z.number().int().min(1).max(100_000).default(1_000).describe('devices tracked in memory; beyond it the longest silent goes'),
    mqtt: consoleMqttSchema.optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.port !== undefined && !isLoopbackHost(c.host) && c.tokenFile === undefined) {
      ctx.addIssue({ code: 'custom', path: ['tokenFile'], message: `required when console.host (${c.host}) is not a loopback address: the console sends commands to cameras` });
    }
  })
  .prefault({});

export type ConsoleConfig = z.infer<typeof consoleSchema>;
