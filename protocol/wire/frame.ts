/**
 * Wire format v1: one binary frame per MQTT message. Byte layout, limits and
 * the reasoning behind them: protocol/README.md. All integers big-endian.
 *
 * Decoding never throws anything but FrameError, and never allocates from a
 * length it has not checked against the bytes actually received.
 */
import { deviceIdProblem, DEVICE_ID_MAX_LENGTH } from '../device-id.ts';
import { codecById, codecByName, QUANTISATION_IDS, quantisationById } from './codecs.ts';
import { crc32c } from './crc32c.ts';
import { FrameError } from './errors.ts';
import { checkJpeg, checkQuantParams, checkTokenShape, checkUnsigned, decodeUtf8 } from './frame-checks.ts';
import { FRAME_ID_BYTES, frameIdToBytes, frameIdToString, isFrameId } from './frame-id.ts';
import {
  AUTH_TAG_BYTES,
  CRC_BYTES,
  FIXED_HEADER_BYTES,
  FLAG_AUTHENTICATED,
  FLAG_CLOCK_UNRELIABLE,
  FLAG_REQUEST,
  KNOWN_FLAGS,
  MAGIC,
  MAX_FRAME_BYTES,
  MAX_TOKEN_WIDTH,
  MAX_TOKENS,
  MODEL_ID_BYTES,
  NO_QUANTISATION,
  PROMPT_MAX_BYTES,
  REQUEST_ID_MAX_LENGTH,
  REQUEST_ID_PATTERN,
  WIRE_VERSION,
  type FrameHeader,
  type JpegFrame,
  type NeuralFrame,
  type WireFrame,
} from './frame-layout.ts';
import { Reader } from './frame-reader.ts';
import type { QuantisationScheme } from './quantise.ts';

// Everything of the layout (constants, frame types, frameSize) is part of this module's interface.
export * from './frame-layout.ts';

const textEncoder = new TextEncoder();

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
  const requestId = frame.requestId ?? null;
  if (requestId !== null && !REQUEST_ID_PATTERN.test(requestId)) {
    throw new FrameError('bad-request-id', 'requestId', `expected 1..${REQUEST_ID_MAX_LENGTH} characters of [A-Za-z0-9._:-]`);
  }
  // Old frames (no request id) keep their bytes exactly: the field and its flag exist only when set.
  const request = requestId === null ? new Uint8Array(0) : textEncoder.encode(requestId);
  const requestBytes = requestId === null ? 0 : 1 + request.length;
  const body = frame.codec === 'jpeg' ? jpegBody(frame) : neuralBody(frame);
  const device = textEncoder.encode(frame.deviceId);
  const size = FIXED_HEADER_BYTES + device.length + 2 + prompt.length + requestBytes + body.params.length * 8 + 4 + body.payload.length + CRC_BYTES;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  view.setUint8(4, WIRE_VERSION);
  view.setUint8(5, codecByName(frame.codec).id);
  view.setUint8(6, body.quantisationId);
  view.setUint8(7, (frame.clockUnreliable ? FLAG_CLOCK_UNRELIABLE : 0) | (requestId === null ? 0 : FLAG_REQUEST));
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
  if (requestId !== null) {
    view.setUint8(at, request.length);
    bytes.set(request, at + 1);
    at += requestBytes;
  }
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
  let requestIdBytes: Uint8Array | null = null;
  if (flags & FLAG_REQUEST) {
    const requestIdLength = r.u8('requestId.length');
    if (requestIdLength === 0 || requestIdLength > REQUEST_ID_MAX_LENGTH) {
      throw new FrameError('bad-request-id', 'requestId.length', `${requestIdLength}, expected 1..${REQUEST_ID_MAX_LENGTH}`);
    }
    requestIdBytes = r.slice('requestId', requestIdLength);
  }
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
  const requestId = requestIdBytes === null ? null : Buffer.from(requestIdBytes).toString('latin1');
  if (requestId !== null && !REQUEST_ID_PATTERN.test(requestId)) {
    throw new FrameError('bad-request-id', 'requestId', `expected 1..${REQUEST_ID_MAX_LENGTH} characters of [A-Za-z0-9._:-]`);
  }
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
    requestId,
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
