// First module of the edge model worker inside the single binary: the worker
// is a separate isolate, so it registers the already extracted addons itself.
import { workerData } from 'node:worker_threads';
import { installNativeAddons } from '../runtime/native-addons.ts';

installNativeAddons((workerData as { nativeDir: string }).nativeDir);
