/**
 * The edge daemon's settings. Every field has a title (`describe`); errors
 * name the path (`mqtt.inflight: expected ...`). Sources: a YAML or JSON file,
 * then SPLITOCULO_* environment variables, then command-line flags.
 */
import { z } from 'zod';
import { CODEC_SETTINGS } from '../../protocol/codec-names.ts';
import { promptText } from '../../protocol/limits.ts';
import { deviceIdProblem } from '../../protocol/device-id.ts';
import { brokerUrl, mqttConnectionFields, plaintextPassword } from '../../runtime/mqtt-config.ts';
import { metricsSection } from '../../runtime/metrics-config.ts';
import { ENCODER_THREADS } from '../pipeline/encoder.ts';

const deviceId = z.string().superRefine((id, ctx) => {
  const problem = deviceIdProblem(id);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const fps = z.number().positive().max(60).describe('frames per second the camera delivers');

export const cameraSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('directory').describe('replay image files from a folder, sorted by name'),
      path: z.string().min(1).describe('folder of JPEG/PNG/WebP files'),
      loop: z.boolean().default(false).describe('start again after the last file'),
    })
    .strict(),
  z
    .object({
      type: z.literal('file').describe('one image, captured again at every tick'),
      path: z.string().min(1).describe('image file'),
    })
    .strict(),
  z
    .object({
      type: z.literal('v4l2').describe('USB/UVC or MIPI camera through a long-lived ffmpeg child'),
      device: z.string().default('/dev/video0').describe('V4L2 device node'),
      ffmpeg: z.string().default('ffmpeg').describe('ffmpeg binary'),
      width: z.number().int().positive().default(640),
      height: z.number().int().positive().default(480),
      fps: fps.default(15),
      inputFormat: z.string().optional().describe("V4L2 input format (mjpeg, yuyv422, ...); default: the driver's"),
      extraArgs: z.array(z.string()).default([]).describe('more ffmpeg input arguments'),
    })
    .strict(),
  z
    .object({
      type: z.literal('libcamera').describe('Raspberry Pi / libcamera camera through one long-lived rpicam-vid child'),
      command: z.string().optional().describe('camera app; default: rpicam-vid, else libcamera-vid'),
      width: z.number().int().positive().default(640),
      height: z.number().int().positive().default(480),
      fps: fps.default(15),
      camera: z.number().int().nonnegative().default(0).describe('camera index'),
      options: z
        .record(z.string().regex(/^[a-z][a-z0-9-]*$/i), z.union([z.string(), z.number(), z.boolean()]))
        .default({})
        .describe('more libcamera-apps options by name (hflip, rotation, awb, ev, shutter, ...); true for a flag'),
      extraArgs: z.array(z.string()).default([]).describe('more camera app arguments, verbatim'),
    })
    .strict(),
]);

export const LINK_PROFILES = ['ble', 'cellular', 'lan'] as const;

export const configSchema = z
  .object({
    device: z.object({ id: deviceId.describe('device id: one MQTT topic level, at most 64 characters') }).strict(),
    model: z
      .object({
        path: z.string().min(1).describe('model folder holding manifest.json and edge.onnx'),
        threads: z.number().int().min(0).max(64).default(1).describe('onnxruntime intra-op threads (0 = all cores)'),
        thread: z
          .enum(ENCODER_THREADS)
          .default('main')
          .describe("main: the model runs on the daemon's thread (least memory); worker: in its own thread, so MQTT and the outbox keep moving during a long inference (about 18 MB more)"),
        arena: z
          .boolean()
          .default(true)
          .describe("keep onnxruntime's working memory between frames; false: about 10 MB less resident, the model's run about 2.5x as long (bench/results/footprint.md)"),
        quantisation: z.enum(['per-tensor', 'per-token']).optional().describe("default: the manifest's"),
      })
      .strict(),
    camera: cameraSchema.describe('where frames come from'),
    capture: z
      .object({
        intervalMs: z.number().int().min(0).max(86_400_000).default(1000).describe('time between captures; 0: as fast as the encoder goes'),
        prompt: promptText.nullable().default(null).describe("question sent with every frame; null: the worker's default"),
        paused: z.boolean().default(false).describe('start paused (capture only on command)'),
        maxFrames: z.number().int().positive().optional().describe('stop capturing after this many frames (tests, replays)'),
      })
      .strict()
      .default({ intervalMs: 1000, prompt: null, paused: false }),
    encoding: z
      .object({
        codec: z
          .enum(CODEC_SETTINGS)
          .default('neural')
          .describe('neural: bottleneck tokens (about 3 KB); jpeg: the 224x224 crop as a JPEG; auto: per frame, whichever reaches the cloud sooner on the measured link'),
        jpegQuality: z.number().int().min(1).max(100).default(85).describe('JPEG quality for jpeg and auto'),
        switchMargin: z.number().min(0).max(0.45).default(0.05).describe('auto: JPEG takes over when predicted faster by more than twice this fraction, neural returns when that lead falls below it'),
        jpegCloudExtraMs: z
          .number()
          .min(0)
          .max(60_000)
          .default(3)
          .describe(
            'auto: extra ms the cloud spends on a JPEG frame before it is as far along as a neural one (image decode; more on a CPU worker, where the whole vision tower costs more than cloud.onnx and the tail)',
          ),
        probeIntervalSeconds: z.number().min(0).max(3600).default(10).describe('round-trip probes (MQTT PINGREQ, 2 bytes) while connected; 0: only at connect'),
      })
      .strict()
      .default({ codec: 'neural', jpegQuality: 85, switchMargin: 0.05, jpegCloudExtraMs: 3, probeIntervalSeconds: 10 })
      .describe('how frames are encoded for the wire'),
    outbox: z
      .object({
        path: z.string().min(1).describe('SQLite file of the queue (keep it on the data partition)'),
        maxFrames: z.number().int().positive().default(100_000).describe('bound on queued frames'),
        maxBytes: z
          .number()
          .int()
          .positive()
          .default(512 * 1024 * 1024)
          .describe('bound on queued frame bytes'),
        policy: z.enum(['drop-oldest', 'drop-newest', 'reject']).default('drop-oldest').describe('what happens when a bound is hit'),
        ttlSeconds: z.number().int().nonnegative().default(0).describe('evict frames older than this; 0 keeps them'),
        order: z.enum(['oldest-first', 'newest-first']).default('oldest-first').describe('delivery order after an outage'),
        synchronous: z.enum(['normal', 'full']).default('normal').describe('SQLite synchronous: full survives power loss at one fsync per frame'),
        maxAnswers: z.number().int().positive().default(10_000).describe('answers kept at most (once over, the oldest go until a sixteenth of it, at most 64, is free again)'),
        answerWindowSeconds: z.number().int().positive().default(600).describe("how long after its PUBACK a sent frame's answer is still accepted (also across a crash)"),
        minFreeBytes: z
          .number()
          .int()
          .nonnegative()
          .default(8 * 1024 * 1024)
          .describe('free disk space to keep: below it the outbox counts as full (the policy applies)'),
      })
      .strict(),
    mqtt: z
      .object({
        url: brokerUrl.describe('broker URL: mqtt://, mqtts://, mqtt+unix:// ...'),
        ...mqttConnectionFields,
        password: plaintextPassword,
        clientId: z.string().min(1).optional().describe('default: splitoculo-edge-<device id>'),
        protocol: z.enum(['auto', '5', '3.1.1']).default('auto').describe('auto: MQTT 5 (the broker then never sends more than the edge reads), falling back to 3.1.1 when the broker refuses it'),
        link: z.enum(LINK_PROFILES).default('lan').describe('preset for keepalive, in-flight window, backoff and timeouts'),
        keepaliveSeconds: z.number().int().min(5).max(3600).optional(),
        inflight: z.number().int().min(1).max(1024).optional().describe('unacknowledged publishes at once'),
        pubackTimeoutMs: z.number().int().min(100).optional().describe('republish after this long without PUBACK'),
        backoffInitialMs: z.number().int().min(10).optional(),
        backoffMaxMs: z.number().int().min(100).optional(),
        bytesPerSecond: z.number().positive().optional().describe('publish budget (throttles, never drops)'),
        bytesPerDay: z.number().positive().optional().describe('daily publish budget for metered links'),
      })
      .strict(),
    auth: z
      .object({
        keyFile: z.string().min(1).optional().describe('per-device key (hex or base64, mode 600): frames are signed with HMAC-SHA256'),
      })
      .strict()
      .default({})
      .describe('frame authentication'),
    answers: z
      .object({
        jsonlFile: z.string().optional().describe('append each new answer as one JSON line'),
        command: z.array(z.string()).min(1).optional().describe('run this program with the answer JSON on stdin'),
        jsonlMaxBytes: z
          .number()
          .int()
          .min(4096)
          .default(16 * 1024 * 1024)
          .describe('jsonlFile is rotated (to .1, .2, ...) before it grows past this'),
        jsonlFiles: z.number().int().min(1).max(100).default(3).describe('rotated jsonlFile copies kept besides the current one'),
        commandConcurrency: z.number().int().min(1).max(64).default(2).describe('answers.command processes running at once'),
        commandQueue: z.number().int().min(0).max(10_000).default(100).describe('answers waiting for a command process; beyond it they are dropped (counted)'),
      })
      .strict()
      .default({ jsonlMaxBytes: 16 * 1024 * 1024, jsonlFiles: 3, commandConcurrency: 2, commandQueue: 100 }),
    log: z
      .object({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
        format: z.enum(['auto', 'json', 'pretty']).default('auto').describe('auto: readable lines on a terminal, JSON otherwise (always JSON under systemd)'),
      })
      .strict()
      .default({ level: 'info', format: 'auto' }),
    status: z
      .object({
        intervalSeconds: z.number().min(1).max(86_400).default(30).describe('republish the retained status document this often (it is also published on every change)'),
        askTimeoutSeconds: z.number().min(1).max(3600).default(120).describe('an ask with no answer after this long ends as timed out'),
      })
      .strict()
      .default({ intervalSeconds: 30, askTimeoutSeconds: 120 })
      .describe('the status document and asks'),
    state: z
      .object({
        path: z.string().min(1).optional().describe('JSON file of the settings changed by command and the discovery topics published; default: <outbox.path>.state.json'),
      })
      .strict()
      .default({})
      .describe('what survives a restart'),
    homeassistant: z
      .object({
        enabled: z.boolean().default(false).describe('publish Home Assistant MQTT discovery configs; false clears any published before'),
        prefix: z
          .string()
          .regex(/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/, 'expected MQTT topic levels of letters, digits, _ and -')
          .default('homeassistant')
          .describe("Home Assistant's discovery prefix"),
        name: z.string().min(1).max(64).optional().describe('the device name shown in Home Assistant; default: the device id'),
      })
      .strict()
      .default({ enabled: false, prefix: 'homeassistant' })
      .describe('Home Assistant MQTT discovery'),
    metrics: metricsSection,
  })
  .strict();

export type EdgeConfig = z.infer<typeof configSchema>;
export type CameraConfig = z.infer<typeof cameraSchema>;
