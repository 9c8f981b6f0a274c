/**
 * What the console knows about each device, from the MQTT topics it reads:
 * the retained status (online, offline by the will or a clean stop), the
 * answers, the newest preview JPEG, and the frames this worker took (bytes
 * on the wire and codec, which the answer envelope does not carry). Every
 * input is bounded before it is kept: device count (the longest silent goes),
 * preview size, and the frame notes. Nothing here renders: the UI escapes.
 */
import { parseAnswer, type AnswerEnvelope } from '../../protocol/answer.ts';
import { MAX_JSON_INPUT_BYTES, PREVIEW_MAX_BYTES } from '../../protocol/limits.ts';
import { parseStatus } from '../../protocol/status.ts';
import { frameIdTimestamp } from '../../protocol/wire/frame-id.ts';
import type { HistoryRow } from './history-store.ts';

/** Frames remembered for their size and codec until their answer arrives. */
const FRAME_NOTES_MAX = 4096;

export interface DeviceView {
  id: string;
  state: 'online' | 'offline' | 'unknown';
  /** The status document as published (validated when it matches this version's schema). */
  status: Record<string, unknown> | null;
  /** Why the status did not match the schema (a newer or older daemon); its fields are still shown. */
  statusProblem: string | null;
  /** Epoch ms of the last status, answer or preview. */
  seenAt: number;
  /** Frames taken by this worker, by wire codec. */
  codecsSeen: Record<string, number>;
  lastFrameAt: number | null;
  lastAnswer: HistoryRow | null;
  previewAt: number | null;
  previewBytes: number | null;
}

interface DeviceRecord extends DeviceView {
  preview: Buffer | null;
}

export type FleetEvent = { type: 'device'; device: DeviceView } | { type: 'answer'; device: string; row: HistoryRow } | { type: 'preview'; device: string; at: number; bytes: number };

/** A payload the console could not use: counted and logged by the caller, never thrown to MQTT. */
export type Refusal = { refused: string };

export class Fleet {
  readonly #devices = new Map<string, DeviceRecord>();
  readonly #frames = new Map<string, { bytes: number; codec: string }>();
  readonly #maxDevices: number;
  readonly #emit: (event: FleetEvent) => void;
  readonly #now: () => number;

  constructor(maxDevices: number, emit: (event: FleetEvent) => void, now: () => number = Date.now) {
    this.#maxDevices = maxDevices;
    this.#emit = emit;
    this.#now = now;
  }

  #device(id: string): DeviceRecord {
    let record = this.#devices.get(id);
    if (record) {
      this.#devices.delete(id); // re-inserted below: Map order is the LRU order
    } else {
      record = { id, state: 'unknown', status: null, statusProblem: null, seenAt: 0, codecsSeen: {}, lastFrameAt: null, lastAnswer: null, preview: null, previewAt: null, previewBytes: null };
      while (this.#devices.size >= this.#maxDevices) this.#devices.delete(this.#devices.keys().next().value!);
    }
    this.#devices.set(id, record);
    record.seenAt = this.#now();
    return record;
  }

  /** A retained status message; an empty payload clears the device (a retained message deleted). */
  status(id: string, payload: Buffer): Refusal | null {
    if (payload.length === 0) {
      this.#devices.delete(id);
      return null;
    }
    if (payload.length > MAX_JSON_INPUT_BYTES) return { refused: `status of ${id}: ${payload.length} bytes, at most ${MAX_JSON_INPUT_BYTES}` };
    let document: Record<string, unknown>;
    let problem: string | null = null;
    try {
      document = parseStatus(payload) as Record<string, unknown>;
    } catch (error) {
      // Shown loosely (a daemon of another version adds or lacks fields); not shown at all when it is not an object.
      try {
        const loose = JSON.parse(payload.toString('utf8')) as unknown;
        if (typeof loose !== 'object' || loose === null || Array.isArray(loose)) return { refused: `status of ${id}: not a JSON object` };
        document = loose as Record<string, unknown>;
        problem = (error as Error).message;
      } catch {
        return { refused: `status of ${id}: not JSON` };
      }
    }
    const record = this.#device(id);
    record.status = document;
    record.statusProblem = problem;
    record.state = document.state === 'online' ? 'online' : document.state === 'offline' ? 'offline' : 'unknown';
    this.#emit({ type: 'device', device: view(record) });
    return null;
  }

  /** A frame this worker took: remembered until its answer comes, for bytes and codec. */
  frameTaken(id: string, frameId: string, bytes: number, codec: string): void {
    this.#frames.set(`${id}/${frameId}`, { bytes, codec });
    while (this.#frames.size > FRAME_NOTES_MAX) this.#frames.delete(this.#frames.keys().next().value!);
    const record = this.#device(id);
    record.codecsSeen[codec] = (record.codecsSeen[codec] ?? 0) + 1;
    record.lastFrameAt = this.#now();
  }

  /** An answer message; returns its history row (null when refused: the reason is in `refusal`). */
  answer(id: string, payload: Buffer): { row: HistoryRow; envelope: AnswerEnvelope } | Refusal {
    let envelope: AnswerEnvelope;
    try {
      envelope = parseAnswer(payload);
    } catch (error) {
      return { refused: `answer of ${id}: ${(error as Error).message}` };
    }
    if (envelope.device !== id) return { refused: `answer on ${id}'s topic names device ${JSON.stringify(envelope.device)}` };
    const at = this.#now();
    const key = `${id}/${envelope.frameId}`;
    const frame = envelope.frameId === null ? undefined : this.#frames.get(key);
    this.#frames.delete(key);
    const row: HistoryRow = {
      device: id,
      frameId: envelope.frameId,
      requestId: envelope.requestId ?? null,
      prompt: envelope.prompt,
      text: envelope.text ?? null,
      error: envelope.error ? `${envelope.error.code}: ${envelope.error.message}` : null,
      latencyMs: envelope.frameId === null ? null : Math.max(0, at - frameIdTimestamp(envelope.frameId)),
      workerMs: envelope.timings.totalMs,
      bytes: frame?.bytes ?? null,
      codec: frame?.codec ?? null,
      at,
    };
    const record = this.#device(id);
    record.lastAnswer = row;
    this.#emit({ type: 'answer', device: id, row });
    return { row, envelope };
  }

  /** A preview message: one JPEG, kept only when small and a JPEG (SOI marker). */
  preview(id: string, payload: Buffer): Refusal | null {
    if (payload.length > PREVIEW_MAX_BYTES) return { refused: `preview of ${id}: ${payload.length} bytes, at most ${PREVIEW_MAX_BYTES}` };
    if (payload.length < 4 || payload[0] !== 0xff || payload[1] !== 0xd8 || payload[2] !== 0xff) return { refused: `preview of ${id}: not a JPEG` };
    const record = this.#device(id);
    record.preview = Buffer.from(payload);
    record.previewAt = this.#now();
    record.previewBytes = payload.length;
    this.#emit({ type: 'preview', device: id, at: record.previewAt, bytes: payload.length });
    return null;
  }

  previewOf(id: string): Buffer | null {
    return this.#devices.get(id)?.preview ?? null;
  }

  get(id: string): DeviceView | null {
    const record = this.#devices.get(id);
    return record ? view(record) : null;
  }

  list(): DeviceView[] {
    return [...this.#devices.values()].map(view).sort((a, b) => a.id.localeCompare(b.id));
  }
}

function view(record: DeviceRecord): DeviceView {
  const { preview: _preview, ...rest } = record;
  return { ...rest, codecsSeen: { ...rest.codecsSeen } };
}
