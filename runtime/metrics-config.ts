/**
 * The `metrics` config section, the same in both programs (the server itself:
 * metrics-server.ts). Loopback by default: the page names devices and counts.
 */
import { z } from 'zod';

export const metricsSection = z
  .object({
    port: z.number().int().min(0).max(65535).optional().describe('Prometheus /metrics port; unset: off'),
    host: z.string().default('127.0.0.1'),
  })
  .strict()
  .default({ host: '127.0.0.1' });
