/**
 * Wire format v1: one binary frame per MQTT message. Byte layout, limits and
 * the reasoning behind them: protocol/README.md. All integers big-endian.
 *
 * Decoding never throws anything but FrameError, and never allocates from a
 * length it has not checked against the bytes actually received.
 */
import { crc32c } from './crc32c.ts';
import { FrameError } from './errors.ts';
import { codecById, codecByName, QUANTISATION_IDS, quantisationById, type CodecName } from './codecs.ts';
import { FRAME_ID_BYTES, frameIdToBytes, frameIdToString, isFrameId } from './frame-id.ts';
import type { QuantisationScheme, QuantisedTokens } from './quantise.ts';
import { deviceIdProblem, DEVICE_ID_MAX_LENGTH } from '../device-id.ts';

export const MAGIC = Uint8Array.of(0x53, 0x50, 0x4c, 0x4f); // "SPLO"
export const WIRE_VERSION = 1;
export const MODEL_ID_BYTES = 16;
export const PROMPT_MAX_BYTES = 1024;
export const MAX_TOKENS = 4096;
export const MAX_TOKEN_WIDTH = 4096;
/** Frames larger than this are refused before parsing (payload limit plus headroom). */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

export const FLAG_CLOCK_UNRELIABLE = 0x01;
/** A 32-byte HMAC-SHA256 tag sits between the payload and the CRC (wire/frame-auth.ts). */
export const FLAG_AUTHENTICATED = 0x02;
export const AUTH_TAG_BYTES = 32;
const KNOWN_FLAGS = FLAG_CLOCK_UNRELIABLE | FLAG_AUTHENTICATED;

/** Size of the fixed header, up to and including the device id length byte. */
export const FIXED_HEADER_BYTES = 61;
const CRC_BYTES = 4;

export interface FrameHeader {
  codec: CodecName;
  modelId: string;
  deviceId: string;
  frameId: string;
  sequence: number;
  captureTimeMs: number;
  clockUnreliable: boolean;
  prompt: string | null;
}

/** Bottleneck tokens from the edge network (codec 1). */
export interface NeuralFrame extends FrameHeader {
  codec: 'neural-u8';
  tokens: QuantisedTokens;
}

/**
 * The preprocessed crop itself as a baseline JPEG (codec 2): what `codec: jpeg`
 * or `auto` sends when the link is fast enough that encoding costs more than
 * the extra bytes. N and D carry the image height and width; no quantisation.
 */
export interface JpegFrame extends FrameHeader {
  codec: 'jpeg';
  image: { width: number; height: number; jpeg: Uint8Array };
}

export type WireFrame = NeuralFrame | JpegFrame;

/** The quantisation byte of a frame without quantisation parameters (JPEG). */
const NO_QUANTISATION = 0;
const JPEG_SOI = [0xff, 0xd8];

const textEncoder = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export function encodeFrame(frame: WireFrame): Uint8Array {
  const problem = deviceIdProblem(frame.deviceId);
  if (problem) throw new FrameError('bad-device-id', 'deviceId', problem);
  if (!/^[0-9a-f]{32}$/.test(frame.modelId)) throw new FrameError('bad-payload', 'modelId', 'expected 32 lowercase hex digits');
  if (!isFrameId(frame.frameId)) throw new FrameError('bad-payload', 'frameId', 'expected a UUIDv7 string');
  checkUnsigned('sequence', frame.sequence);
  checkUnsigned('captureTimeMs', frame.captureTimeMs);
  const prompt = frame.prompt === null ? new Uint8Array(0) : textEncoder.encode(frame.prompt);
  if (prompt.length > PROMPT_MAX_BYTES) {
    throw new FrameError('bad-prompt', 'prompt', `${prompt.length} bytes of UTF-8, at most ${PROMPT_MAX_BYTES} allowed`);
  }
  const body = frame.codec === 'jpeg' ? jpegBody(frame) : neuralBody(frame);
  const device = textEncoder.encode(frame.deviceId);
  const size = FIXED_HEADER_BYTES + device.length + 2 + prompt.length + body.params.length * 8 + 4 + body.payload.length + CRC_BYTES;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  view.setUint8(4, WIRE_VERSION);
  view.setUint8(5, codecByName(frame.codec).id);
  view.setUint8(6, body.quantisationId);
  view.setUint8(7, frame.clockUnreliable ? FLAG_CLOCK_UNRELIABLE : 0);
  bytes.set(Buffer.from(frame.modelId, 'hex'), 8);
  bytes.set(frameIdToBytes(frame.frameId), 24);
  view.setBigUint64(40, BigInt(frame.sequence));
  view.setBigUint64(48, BigInt(frame.captureTimeMs));
  view.setUint16(56, body.n);
  view.setUint16(58, body.d);
  view.setUint8(60, device.length);
  let at = FIXED_HEADER_BYTES;
  bytes.set(device, at);
  at += device.length;
  view.setUint16(at, prompt.length);
  bytes.set(prompt, at + 2);
  at += 2 + prompt.length;
  for (const [scale, zeroPoint] of body.params) {
    view.setFloat32(at, scale);
    view.setFloat32(at + 4, zeroPoint);
    at += 8;
  }
  view.setUint32(at, body.payload.length);
  bytes.set(body.payload, at + 4);
  at += 4 + body.payload.length;
  view.setUint32(at, crc32c(bytes, 0, at));
  return bytes;
}

interface FrameBody {
  quantisationId: number;
  n: number;
  d: number;
  params: Array<[number, number]>;
  payload: Uint8Array;
}

function neuralBody({ tokens }: NeuralFrame): FrameBody {
  checkTokenShape(tokens.count, tokens.width, tokens.data.length);
  const groups = tokens.scheme === 'per-token' ? tokens.count : 1;
  if (tokens.params.scales.length !== groups || tokens.params.zeroPoints.length !== groups) {
    throw new FrameError('bad-quantisation', 'quantisation', `${tokens.scheme} needs ${groups} scale/zero-point pairs`);
  }
  checkQuantParams(tokens.params.scales, tokens.params.zeroPoints);
  const params = Array.from(tokens.params.scales, (scale, g): [number, number] => [scale, tokens.params.zeroPoints[g]!]);
  return { quantisationId: QUANTISATION_IDS[tokens.scheme], n: tokens.count, d: tokens.width, params, payload: tokens.data };
}

function jpegBody({ image }: JpegFrame): FrameBody {
  checkJpeg(image.width, image.height, image.jpeg);
  return { quantisationId: NO_QUANTISATION, n: image.height, d: image.width, params: [], payload: image.jpeg };
}

/** Reads fields in order; every read is bounds-checked and names its field. */
class Reader {
  at = 0;
  readonly bytes: Uint8Array;
  readonly view: DataView;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  need(field: string, count: number): void {
    if (this.bytes.length - this.at < count) {
      throw new FrameError('truncated', field, `needs ${count} bytes at offset ${this.at}, only ${this.bytes.length - this.at} remain`);
    }
  }

  u8(field: string): number {
    this.need(field, 1);
    return this.view.getUint8(this.at++);
  }

  u16(field: string): number {
    this.need(field, 2);
    const value = this.view.getUint16(this.at);
    this.at += 2;
    return value;
  }

  u32(field: string): number {
    this.need(field, 4);
    const value = this.view.getUint32(this.at);
    this.at += 4;
    return value;
  }

  u64(field: string): bigint {
    this.need(field, 8);
    const value = this.view.getBigUint64(this.at);
    this.at += 8;
    return value;
  }

  f32(field: string): number {
    this.need(field, 4);
    const value = this.view.getFloat32(this.at);
    this.at += 4;
    return value;
  }

  slice(field: string, count: number): Uint8Array {
    this.need(field, count);
    const out = this.bytes.subarray(this.at, this.at + count);
    this.at += count;
    return out;
  }
}

export function decodeFrame(input: Uint8Array): WireFrame {
  if (!(input instanceof Uint8Array)) throw new FrameError('truncated', 'frame', 'expected bytes');
  if (input.length > MAX_FRAME_BYTES) {
    throw new FrameError('too-large', 'frame', `${input.length} bytes, at most ${MAX_FRAME_BYTES} allowed`);
  }
  const r = new Reader(input);
  const magic = r.slice('magic', 4);
  if (!MAGIC.every((b, i) => magic[i] === b)) throw new FrameError('bad-magic', 'magic', 'not a SplitOculo frame (expected "SPLO")');
  const version = r.u8('version');
  if (version !== WIRE_VERSION) throw new FrameError('unsupported-version', 'version', `version ${version}, this decoder reads ${WIRE_VERSION}`);
  const codecId = r.u8('codec');
  const codec = codecById(codecId);
  if (!codec) throw new FrameError('unknown-codec', 'codec', `unknown codec id ${codecId}`);
  if (!codec.supported) throw new FrameError('unsupported-codec', 'codec', `codec ${codec.name} (id ${codecId}) is reserved, not decoded by v1`);
  const quantId = r.u8('quantisation');
  let scheme: QuantisationScheme | null = null;
  if (codec.name === 'jpeg') {
    if (quantId !== NO_QUANTISATION) throw new FrameError('unknown-quantisation', 'quantisation', `quantisation id ${quantId} with codec jpeg, expected 0 (none)`);
  } else {
    scheme = quantisationById(quantId) ?? null;
    if (!scheme) throw new FrameError('unknown-quantisation', 'quantisation', `unknown quantisation id ${quantId}`);
  }
  const flags = r.u8('flags');
  if (flags & ~KNOWN_FLAGS) throw new FrameError('bad-flags', 'flags', `unknown flag bits 0x${(flags & ~KNOWN_FLAGS).toString(16)}`);
  const modelId = Buffer.from(r.slice('modelId', MODEL_ID_BYTES)).toString('hex');
  const frameIdBytes = r.slice('frameId', FRAME_ID_BYTES);
  const sequence = r.u64('sequence');
  const captureTime = r.u64('captureTimeMs');
  const count = r.u16('tokens.count');
  const width = r.u16('tokens.width');
  const deviceLength = r.u8('deviceId.length');
  if (deviceLength === 0 || deviceLength > DEVICE_ID_MAX_LENGTH) {
    throw new FrameError('bad-device-id', 'deviceId.length', `${deviceLength}, expected 1..${DEVICE_ID_MAX_LENGTH}`);
  }
  const deviceBytes = r.slice('deviceId', deviceLength);
  const promptLength = r.u16('prompt.length');
  if (promptLength > PROMPT_MAX_BYTES) throw new FrameError('bad-prompt', 'prompt.length', `${promptLength} bytes, at most ${PROMPT_MAX_BYTES} allowed`);
  const promptBytes = r.slice('prompt', promptLength);
  if (count === 0 || count > MAX_TOKENS || width === 0 || width > MAX_TOKEN_WIDTH) {
    throw new FrameError('bad-shape', 'tokens', `shape ${count}x${width}, expected 1..${MAX_TOKENS} x 1..${MAX_TOKEN_WIDTH}`);
  }
  const groups = scheme === null ? 0 : scheme === 'per-token' ? count : 1;
  r.need('quantisation.params', groups * 8);
  const scales = new Float32Array(groups);
  const zeroPoints = new Float32Array(groups);
  for (let g = 0; g < groups; g++) {
    scales[g] = r.f32('quantisation.scale');
    zeroPoints[g] = r.f32('quantisation.zeroPoint');
  }
  const payloadLength = r.u32('payload.length');
  const payload = r.slice('payload', payloadLength);
  // The tag is checked by verifyFrame before decoding; here it is only stepped over.
  if (flags & FLAG_AUTHENTICATED) r.slice('auth.tag', AUTH_TAG_BYTES);
  const crcAt = r.at;
  const expectedCrc = r.u32('crc');
  if (r.at !== input.length) throw new FrameError('trailing-bytes', 'frame', `${input.length - r.at} bytes after the CRC`);
  const actualCrc = crc32c(input, 0, crcAt);
  if (actualCrc !== expectedCrc) {
    throw new FrameError('crc-mismatch', 'crc', `CRC-32C is 0x${actualCrc.toString(16).padStart(8, '0')}, frame says 0x${expectedCrc.toString(16).padStart(8, '0')}`);
  }
  // The CRC proves the bytes arrived as sent; what follows proves the sender was sane.
  if (scheme === null) checkJpeg(width, count, payload);
  else {
    checkTokenShape(count, width, payload.length);
    checkQuantParams(scales, zeroPoints);
  }
  const deviceId = decodeUtf8(deviceBytes, 'deviceId');
  const deviceProblem = deviceIdProblem(deviceId);
  if (deviceProblem) throw new FrameError('bad-device-id', 'deviceId', deviceProblem);
  const frameId = frameIdToString(frameIdBytes);
  if (!isFrameId(frameId)) throw new FrameError('bad-payload', 'frameId', `${frameId} is not a UUIDv7`);
  if (sequence > BigInt(Number.MAX_SAFE_INTEGER)) throw new FrameError('bad-sequence', 'sequence', `${sequence} exceeds 2^53-1`);
  if (captureTime > BigInt(Number.MAX_SAFE_INTEGER)) throw new FrameError('bad-sequence', 'captureTimeMs', `${captureTime} exceeds 2^53-1`);
  const header: FrameHeader = {
    codec: codec.name,
    modelId,
    deviceId,
    frameId,
    sequence: Number(sequence),
    captureTimeMs: Number(captureTime),
    clockUnreliable: (flags & FLAG_CLOCK_UNRELIABLE) !== 0,
    prompt: promptLength === 0 ? null : decodeUtf8(promptBytes, 'prompt'),
  };
  if (scheme === null) return { ...header, codec: 'jpeg', image: { width, height: count, jpeg: Uint8Array.from(payload) } };
  return { ...header, codec: 'neural-u8', tokens: { scheme, count, width, params: { scales, zeroPoints }, data: Uint8Array.from(payload) } };
}

/** decodeFrame for callers that only handle bottleneck tokens (tests, tools): a JPEG frame is refused. */
export function decodeNeuralFrame(input: Uint8Array): NeuralFrame {
  const frame = decodeFrame(input);
  if (frame.codec !== 'neural-u8') throw new FrameError('unsupported-codec', 'codec', `codec ${frame.codec}, expected neural-u8 here`);
  return frame;
}

function decodeUtf8(bytes: Uint8Array, field: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new FrameError(field === 'prompt' ? 'bad-prompt' : 'bad-device-id', field, 'is not valid UTF-8');
  }
}

function checkTokenShape(count: number, width: number, payloadLength: number): void {
  if (!Number.isInteger(count) || !Number.isInteger(width) || count < 1 || count > MAX_TOKENS || width < 1 || width > MAX_TOKEN_WIDTH) {
    throw new FrameError('bad-shape', 'tokens', `shape ${count}x${width}, expected 1..${MAX_TOKENS} x 1..${MAX_TOKEN_WIDTH}`);
  }
  if (payloadLength !== count * width) {
    throw new FrameError('bad-payload', 'payload', `${payloadLength} bytes, shape ${count}x${width} needs ${count * width}`);
  }
}

/** Only the container is checked here: the cloud's image decoder judges the pixels. */
function checkJpeg(width: number, height: number, jpeg: Uint8Array): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || width > MAX_TOKEN_WIDTH || height < 1 || height > MAX_TOKENS) {
    throw new FrameError('bad-shape', 'image', `size ${width}x${height}, expected 1..${MAX_TOKEN_WIDTH} x 1..${MAX_TOKENS}`);
  }
  if (jpeg.length < 4 || jpeg[0] !== JPEG_SOI[0] || jpeg[1] !== JPEG_SOI[1]) {
    throw new FrameError('bad-payload', 'payload', `${jpeg.length} bytes that do not start with a JPEG SOI marker (FF D8)`);
  }
}

function checkQuantParams(scales: Float32Array, zeroPoints: Float32Array): void {
  for (let g = 0; g < scales.length; g++) {
    const scale = scales[g]!;
    if (!Number.isFinite(scale) || scale <= 0) {
      throw new FrameError('bad-quantisation', 'quantisation.scale', `scale ${g} is ${scale}, expected a finite positive number`);
    }
    if (!Number.isFinite(zeroPoints[g]!)) {
      throw new FrameError('bad-quantisation', 'quantisation.zeroPoint', `zero point ${g} is ${zeroPoints[g]}, expected a finite number`);
    }
  }
}

function checkUnsigned(field: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new FrameError('bad-sequence', field, `${value} is not an unsigned integer below 2^53`);
}

/** Bytes a v1 frame of this shape occupies (for budgets and the size bar). */
export function frameSize(deviceIdLength: number, promptBytes: number, count: number, width: number, scheme: 'per-tensor' | 'per-token', authenticated = false): number {
  const groups = scheme === 'per-token' ? count : 1;
  return FIXED_HEADER_BYTES + deviceIdLength + 2 + promptBytes + groups * 8 + 4 + count * width + (authenticated ? AUTH_TAG_BYTES : 0) + CRC_BYTES;
}
