// An MQTT client collecting wire frames: shared with bench/, so it lives in tools/ (test/ and bench/ never import each other).
export * from '../../tools/frame-collector.ts';
