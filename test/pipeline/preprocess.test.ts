import assert from 'node:assert/strict';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { centreCropOffset, ImageError, MAX_FRAME_PIXELS, preprocessImage, resizedDimensions } from '../../daemon/pipeline/preprocess.ts';
import { loadModel } from '../../protocol/manifest/load.ts';
import { FRAMES_DIR, TINY_MODEL_DIR } from '../helpers/paths.ts';

const { manifest } = await loadModel(TINY_MODEL_DIR, []);
const pre = manifest.preprocess;

describe('preprocessing', () => {
  it('resizes the short side to 224 and truncates the long side like torchvision', () => {
    assert.deepEqual(resizedDimensions(451, 300, 224), { width: 336, height: 224 }); // 336.75 -> 336
    assert.deepEqual(resizedDimensions(300, 451, 224), { width: 224, height: 336 });
    assert.deepEqual(resizedDimensions(512, 512, 224), { width: 224, height: 224 });
  });

  it('centres the crop with round-half-to-even offsets', () => {
    assert.equal(centreCropOffset(224, 224), 0);
    assert.equal(centreCropOffset(336, 224), 56);
    assert.equal(centreCropOffset(227, 224), 2); // 1.5 -> 2
    assert.equal(centreCropOffset(229, 224), 2); // 2.5 -> 2
    assert.equal(centreCropOffset(231, 224), 4); // 3.5 -> 4
  });

  it('normalises a flat colour with the manifest mean and std', async () => {
    const image = await sharp({ create: { width: 300, height: 260, channels: 3, background: { r: 255, g: 0, b: 128 } } })
      .png()
      .toBuffer();
    const { tensor } = await preprocessImage(image, pre);
    const plane = 224 * 224;
    const expected = [255, 0, 128].map((v, c) => (v / 255 - pre.mean[c]!) / pre.std[c]!);
    for (let c = 0; c < 3; c++) {
      assert.ok(Math.abs(tensor[c * plane + 1000]! - expected[c]!) < 1e-5, `channel ${c}`);
    }
  });

  it('turns grayscale and RGBA samples into RGB tensors', async () => {
    for (const name of ['camera.png', 'coins.png', 'horse.png']) {
      const meta = await sharp(join(FRAMES_DIR, name)).metadata();
      assert.ok(meta.channels !== 3, `${name} should not be plain RGB`);
      const { tensor } = await preprocessImage(join(FRAMES_DIR, name), pre, name);
      assert.equal(tensor.length, 3 * 224 * 224);
      assert.ok(tensor.every(Number.isFinite));
    }
    // Grayscale: the three channels carry the same grey level.
    const { tensor } = await preprocessImage(join(FRAMES_DIR, 'camera.png'), pre);
    const plane = 224 * 224;
    for (const i of [0, 5000, 40000]) {
      const grey = [0, 1, 2].map((c) => tensor[c * plane + i]! * pre.std[c]! + pre.mean[c]!);
      assert.ok(Math.abs(grey[0]! - grey[1]!) < 1e-5 && Math.abs(grey[1]! - grey[2]!) < 1e-5);
    }
  });

  it('refuses a frame over the pixel limit from its header, before decoding it', async () => {
    // A PNG header claiming 8200x8200 (67 MP) with one row of pixel data: only the header is read.
    const chunk = (type: string, data: Buffer) => {
      const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
      const length = Buffer.alloc(4);
      length.writeUInt32BE(data.length);
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32(body));
      return Buffer.concat([length, body, crc]);
    };
    const header = Buffer.alloc(13);
    header.writeUInt32BE(8200, 0);
    header.writeUInt32BE(8200, 4);
    header[8] = 8; // 8-bit grey
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', deflateSync(Buffer.alloc(8201))), chunk('IEND', Buffer.alloc(0))]);
    assert.ok(8200 * 8200 > MAX_FRAME_PIXELS);
    await assert.rejects(
      preprocessImage(png, pre, 'cam0 frame 9'),
      (e: unknown) => e instanceof ImageError && e.message === `cam0 frame 9: image too large: 8200x8200 = 67240000 pixels, the limit for a frame is ${MAX_FRAME_PIXELS} pixels; scale it down first`,
    );
  });

  it('refuses undecodable and too-small images by name', async () => {
    await assert.rejects(preprocessImage(Buffer.from('not an image'), pre, 'cam0 frame 7'), (e: unknown) => e instanceof ImageError && e.message.startsWith('cam0 frame 7: not a decodable image'));
    const tiny = await sharp({ create: { width: 4, height: 4, channels: 3, background: 'black' } })
      .png()
      .toBuffer();
    await assert.doesNotReject(preprocessImage(tiny, pre)); // upscaled like torchvision does
  });
});
