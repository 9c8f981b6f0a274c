// A real mosquitto broker: shared with bench/, so it lives in tools/ (test/ and bench/ never import each other).
export * from '../../tools/mosquitto.ts';
