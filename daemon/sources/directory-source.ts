/** Replays image files: a folder (sorted by name, optionally looping) or one file. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CameraError, type CapturedImage, type FrameSource } from './source.ts';

const IMAGE_FILE = /\.(jpe?g|png|webp|tiff?|gif|avif)$/i;

export class DirectorySource implements FrameSource {
  readonly name: string;
  readonly live = false;
  readonly #path: string;
  readonly #loop: boolean;
  #files: string[] = [];
  #next = 0;

  constructor(path: string, loop: boolean) {
    this.name = `directory ${path}`;
    this.#path = path;
    this.#loop = loop;
  }

  async start(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.#path);
    } catch (error) {
      throw new CameraError(`camera.path ${this.#path}: cannot list the folder (${(error as NodeJS.ErrnoException).code})`);
    }
    this.#files = names.filter((n) => IMAGE_FILE.test(n)).sort();
    if (this.#files.length === 0) throw new CameraError(`camera.path ${this.#path}: no image files (.jpg, .png, .webp, ...)`);
  }

  get exhausted(): boolean {
    return !this.#loop && this.#next >= this.#files.length;
  }

  async grab(): Promise<CapturedImage | null> {
    if (this.#files.length === 0 || this.exhausted) return null;
    const name = this.#files[this.#next % this.#files.length]!;
    this.#next += 1;
    const capturedAt = Date.now();
    return { bytes: await readFile(join(this.#path, name)), capturedAt, label: name };
  }

  async stop(): Promise<void> {}
}

export class FileSource implements FrameSource {
  readonly name: string;
  readonly live = false;
  readonly exhausted = false;
  readonly #path: string;

  constructor(path: string) {
    this.name = `file ${path}`;
    this.#path = path;
  }

  async start(): Promise<void> {
    await readFile(this.#path).catch((error: NodeJS.ErrnoException) => {
      throw new CameraError(`camera.path ${this.#path}: cannot read the image (${error.code})`);
    });
  }

  async grab(): Promise<CapturedImage | null> {
    return { bytes: await readFile(this.#path), capturedAt: Date.now(), label: this.#path };
  }

  async stop(): Promise<void> {}
}
