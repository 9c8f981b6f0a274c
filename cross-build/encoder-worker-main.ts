// The edge model worker as embedded in the binary: addons, then the worker.
import './worker-entry.ts';
import '../daemon/pipeline/encoder-worker.ts';
