/**
 * The cloud worker's settings. Every field has a title (`describe`); errors
 * name the path (`worker.batchSize: expected ...`). Sources: a YAML or JSON
 * file, then SPLITOCULO_* environment variables, then command-line flags.
 */
import { z } from 'zod';
import { brokerUrl, mqttConnectionFields, plaintextPassword, urlHasPassword } from '../../runtime/mqtt-config.ts';
import { metricsSection } from '../../runtime/metrics-config.ts';
import { consoleSchema } from './console.ts';

const stopTokens = z.array(z.string().min(1)).default(['<|im_end|>']).describe('tokens that end an answer');
const maxNewTokens = z.number().int().min(1).max(8192).default(256).describe('token limit of one answer');
const maxPromptTokens = z.number().int().min(1).max(4096).default(128).describe("longest question accepted, in the tokenizer's tokens (longer prompts get bad-prompt answers)");
const device = z.enum(['cpu', 'cuda']).default('cpu').describe('onnxruntime execution provider (cuda needs the CUDA build of onnxruntime)');

export const answererSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('local').describe('Qwen2.5-VL in this process through transformers.js'),
      qwen: z.string().min(1).describe('Hugging Face Qwen2.5-VL folder with onnx/ (tails and language model)'),
      device,
      dtype: z.enum(['fp32', 'fp16', 'q8', 'q4', 'q4f16']).default('fp32').describe('language model files variant: fp32 = decoder_model_merged.onnx, q4 = ..._q4.onnx'),
      maxNewTokens,
      maxPromptTokens,
      stopTokens,
      threads: z.number().int().min(0).max(256).default(0).describe('onnxruntime intra-op threads (0 = all cores)'),
    })
    .strict(),
  z
    .object({
      type: z.literal('vllm').describe('vision tail here, language model on an OpenAI-compatible vLLM server (--enable-mm-embeds)'),
      qwen: z.string().min(1).describe('Qwen2.5-VL folder holding config.json and the vision tails'),
      // Credentials in the URL would be quoted by every error about the server (answers to devices included): refused.
      baseUrl: z
        .string()
        .url()
        .refine((url) => !urlHasPassword(url) && !/\/\/[^/]*@/.test(url), 'the URL carries credentials; put the API key in a file and set apiKeyFile')
        .describe('server root, e.g. http://gpu-box:8000/v1'),
      model: z.string().min(1).describe("served model name (vLLM's --served-model-name)"),
      apiKeyFile: z.string().optional().describe('file holding the API key (vLLM --api-key)'),
      device,
      maxNewTokens,
      maxPromptTokens,
      stopTokens: z.array(z.string().min(1)).default([]).describe("extra stop strings; vLLM stops at the model's end token by itself"),
      timeoutMs: z.number().int().min(100).default(60_000).describe('one HTTP attempt'),
      retries: z.number().int().min(0).max(20).default(3).describe('attempts after a connection failure, a timeout, 429 or 5xx'),
      backoffMs: z.number().int().min(1).default(500).describe('first retry delay; doubles per attempt, with jitter'),
    })
    .strict(),
]);

export const cloudConfigSchema = z
  .object({
    worker: z
      .object({
        id: z.string().min(1).max(128).optional().describe('name in answers and logs; default: <hostname>-<pid>'),
        maxPending: z.number().int().min(1).max(65_535).default(64).describe('frames taken but not yet acknowledged; beyond it the worker stops taking messages (MQTT 5 Receive Maximum)'),
        batchSize: z.number().int().min(1).max(256).default(8).describe('frames of one model decoded in one cloud.onnx run'),
        batchWaitMs: z.number().int().min(0).max(10_000).default(10).describe('wait this long for more frames before running a partial batch'),
        concurrency: z.number().int().min(1).max(64).default(1).describe('batches in progress at once: 1 for an in-process model, more for vLLM'),
        deadlineMs: z.number().int().min(100).default(120_000).describe('answer a frame within this long of its arrival, or with deadline-exceeded'),
        defaultPrompt: z.string().min(1).max(1024).default('Describe this image in one sentence.').describe('question for frames that carry none'),
        stopTimeoutMs: z.number().int().min(0).default(60_000).describe('on stop, wait this long for frames in progress'),
      })
      .strict()
      .default({ maxPending: 64, batchSize: 8, batchWaitMs: 10, concurrency: 1, deadlineMs: 120_000, defaultPrompt: 'Describe this image in one sentence.', stopTimeoutMs: 60_000 }),
    models: z
      .object({
        paths: z.array(z.string().min(1)).min(1).describe('SplitOculo model folders (manifest.json + cloud.onnx); frames pick one by model id'),
        threads: z.number().int().min(0).max(256).default(0).describe('onnxruntime intra-op threads for cloud.onnx (0 = all cores)'),
      })
      .strict(),
    answerer: answererSchema.describe('what turns features into answers'),
    mqtt: z
      .object({
        url: brokerUrl.optional().describe('broker URL: mqtt://, mqtts://, mqtt+unix:// ...; default with broker.embedded: the embedded broker'),
        ...mqttConnectionFields,
        password: plaintextPassword,
        clientId: z.string().min(1).optional().describe("stable id: the broker keeps this worker's session under it; default: splitoculo-cloud-<worker id>"),
        protocol: z.enum(['auto', '5', '3.1.1']).default('auto').describe('auto: MQTT 5, falling back to 3.1.1 when the broker refuses it'),
        sharedGroup: z
          .string()
          .regex(/^[A-Za-z0-9._-]+$/)
          .optional()
          .describe('MQTT 5 shared subscription group: workers in one group split the frames'),
        keepaliveSeconds: z.number().int().min(5).max(3600).default(30),
        sessionExpirySeconds: z
          .number()
          .int()
          .min(0)
          .default(7 * 24 * 3600)
          .describe('how long the broker keeps frames for this worker while it is away (MQTT 5)'),
        publishTimeoutMs: z.number().int().min(100).default(15_000).describe('an answer without PUBACK in this long counts as not delivered (the frame is not acknowledged)'),
      })
      .strict()
      .prefault({}),
    auth: z
      .object({
        keysDir: z.string().min(1).optional().describe('folder of per-device keys, <device id>.key (mode 600): frames of those devices must carry a valid HMAC tag'),
        required: z.boolean().default(false).describe('refuse frames of devices without a key file'),
        replayWindow: z.number().int().min(0).default(1000).describe("refuse a signed frame whose sequence is this far behind the device's newest"),
      })
      .strict()
      .prefault({})
      .describe('frame authentication'),
    dedup: z
      .object({
        path: z.string().min(1).describe('SQLite file of answered frame ids'),
        maxEntries: z
          .number()
          .int()
          .min(1)
          .default(1_000)
          .describe("answers remembered per device, the device's oldest go first (at least auth.replayWindow: a replay within the window is then answered from the store)"),
        maxDevices: z.number().int().min(1).default(10_000).describe("devices remembered; beyond it the least recently answered device's answers go"),
        ttlHours: z.number().positive().default(48).describe('answers older than this are forgotten'),
      })
      .strict(),
    broker: z
      .object({
        embedded: z.boolean().default(false).describe('run an in-process MQTT 3.1.1 broker (aedes): a single machine needs nothing else'),
        port: z.number().int().min(0).max(65_535).default(1883),
        host: z.string().default('127.0.0.1').describe('address the embedded broker listens on'),
      })
      .strict()
      .default({ embedded: false, port: 1883, host: '127.0.0.1' }),
    log: z
      .object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info') })
      .strict()
      .default({ level: 'info' }),
    metrics: metricsSection,
    console: consoleSchema.describe('the operator console (cloud/console/)'),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.mqtt.url === undefined && !config.broker.embedded) {
      ctx.addIssue({ code: 'custom', path: ['mqtt', 'url'], message: 'required unless broker.embedded is true' });
    }
  });

export type AuthConfig = z.infer<typeof cloudConfigSchema>['auth'];
export type CloudConfig = z.infer<typeof cloudConfigSchema>;
export type AnswererConfig = z.infer<typeof answererSchema>;
