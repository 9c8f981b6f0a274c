// The shared contracts of edge and cloud: wire format, topics, answers, manifests.
export * from './wire/frame.ts';
export * from './wire/errors.ts';
export * from './wire/codecs.ts';
export * from './wire/quantise.ts';
export * from './wire/frame-id.ts';
export * from './wire/crc32c.ts';
export * from './device-id.ts';
export * from './topics.ts';
export * from './answer.ts';
export * from './manifest/schema.ts';
export * from './manifest/model-id.ts';
export * from './manifest/load.ts';
export * from './tensor-compare.ts';
export * from './manifest/onnx-session.ts';
export * from './json-input.ts';
