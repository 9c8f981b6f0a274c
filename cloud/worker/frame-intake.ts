/**
 * Turns one MQTT message into work or into an error answer: the topic must be
 * a frame topic, the frame must decode, its device id must match the topic's
 * and its model must be one this worker serves; a device with a key must have
 * signed it (checked before decoding). Nothing here throws: every
 * bad input becomes an error answer with a code, never a retry.
 */
import type { AnswerErrorCode } from '../../protocol/answer.ts';
import type { TopicMap } from '../../protocol/topics.ts';
import { FrameError } from '../../protocol/wire/errors.ts';
import { decodeFrame, type WireFrame } from '../../protocol/wire/frame.ts';
import type { DeviceKeys } from './device-keys.ts';
import type { ModelRegistry, ServedModel } from './model-registry.ts';

export interface Rejection {
  code: AnswerErrorCode;
  message: string;
  /** Device from the topic: where the error answer goes. */
  deviceId: string;
  /** What could be read of the frame; absent when nothing could. */
  frame?: WireFrame;
}

export type Intake =
  | { ok: true; deviceId: string; frame: WireFrame; served: ServedModel; decodeMs: number; signed: boolean }
  | { ok: false; rejection: Rejection }
  | { ok: false; rejection: null; reason: string };

export function takeFrame(topic: string, payload: Uint8Array, topics: TopicMap, models: ModelRegistry, keys?: DeviceKeys): Intake {
  const route = topics.parse(topic);
  if (route?.kind !== 'frame') return { ok: false, rejection: null, reason: `not a frame topic: ${topic}` };
  const { deviceId } = route;
  const started = performance.now();
  const verdict = keys ? keys.check(deviceId, payload) : { ok: true as const, signed: false };
  if (!verdict.ok) return { ok: false, rejection: { code: 'unauthenticated', message: verdict.message, deviceId } };
  let frame: WireFrame;
  try {
    frame = decodeFrame(payload);
  } catch (error) {
    const message = error instanceof FrameError ? error.message : `frame could not be read: ${(error as Error).message}`;
    return { ok: false, rejection: { code: 'bad-frame', message: `${message} (${payload.length} bytes)`, deviceId } };
  }
  const decodeMs = performance.now() - started;
  if (frame.deviceId !== deviceId) {
    return { ok: false, rejection: { code: 'device-mismatch', message: `frame from device ${frame.deviceId} published on ${deviceId}'s topic`, deviceId, frame } };
  }
  const served = models.get(frame.modelId);
  if (!served) {
    return { ok: false, rejection: { code: 'unknown-model', message: `model ${frame.modelId} is not served here; this worker serves ${models.ids.join(', ')}`, deviceId, frame } };
  }
  const { count, width } = served.model.manifest.tokens;
  // A JPEG frame of any size is resized to the model's grid by the answerer.
  if (frame.codec === 'neural-u8' && (frame.tokens.count !== count || frame.tokens.width !== width)) {
    return {
      ok: false,
      rejection: { code: 'bad-frame', message: `frame carries ${frame.tokens.count}x${frame.tokens.width} tokens, model ${served.model.manifest.name} takes ${count}x${width}`, deviceId, frame },
    };
  }
  return { ok: true, deviceId, frame, served, decodeMs, signed: verdict.signed };
}
