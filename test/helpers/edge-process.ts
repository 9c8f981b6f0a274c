// The daemon and worker as child processes: shared with bench/, so it lives in tools/ (test/ and bench/ never import each other).
export * from '../../tools/edge-process.ts';
