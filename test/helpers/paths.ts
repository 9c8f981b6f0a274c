import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const TINY_MODEL_DIR = join(REPO_ROOT, 'models', 'tiny');
export const FRAMES_DIR = join(REPO_ROOT, 'test', 'fixtures', 'frames');
export const TINY_QWEN_DIR = join(REPO_ROOT, 'models', 'tiny-qwen');
