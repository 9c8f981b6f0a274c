/**
 * The checks encode and decode share: token shape against payload length,
 * the JPEG container, quantisation parameters, unsigned integers and strict
 * UTF-8. Each throws FrameError naming the field.
 */
import { FrameError } from './errors.ts';
import { JPEG_SOI, MAX_TOKEN_WIDTH, MAX_TOKENS } from './frame-layout.ts';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeUtf8(bytes: Uint8Array, field: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new FrameError(field === 'prompt' ? 'bad-prompt' : 'bad-device-id', field, 'is not valid UTF-8');
  }
}

export function checkTokenShape(count: number, width: number, payloadLength: number): void {
  if (!Number.isInteger(count) || !Number.isInteger(width) || count < 1 || count > MAX_TOKENS || width < 1 || width > MAX_TOKEN_WIDTH) {
    throw new FrameError('bad-shape', 'tokens', `shape ${count}x${width}, expected 1..${MAX_TOKENS} x 1..${MAX_TOKEN_WIDTH}`);
  }
  if (payloadLength !== count * width) {
    throw new FrameError('bad-payload', 'payload', `${payloadLength} bytes, shape ${count}x${width} needs ${count * width}`);
  }
}

/** Only the container is checked here: the cloud's image decoder judges the pixels. */
export function checkJpeg(width: number, height: number, jpeg: Uint8Array): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || width > MAX_TOKEN_WIDTH || height < 1 || height > MAX_TOKENS) {
    throw new FrameError('bad-shape', 'image', `size ${width}x${height}, expected 1..${MAX_TOKEN_WIDTH} x 1..${MAX_TOKENS}`);
  }
  if (jpeg.length < 4 || jpeg[0] !== JPEG_SOI[0] || jpeg[1] !== JPEG_SOI[1]) {
    throw new FrameError('bad-payload', 'payload', `${jpeg.length} bytes that do not start with a JPEG SOI marker (FF D8)`);
  }
}

export function checkQuantParams(scales: Float32Array, zeroPoints: Float32Array): void {
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

export function checkUnsigned(field: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new FrameError('bad-sequence', field, `${value} is not an unsigned integer below 2^53`);
}
