/**
 * How both commands end on failure: one line naming the input and what was
 * expected, exit code 1. Errors of the project's own kinds are expected
 * failures (bad input); anything else is a bug and keeps its stack.
 */
const EXPECTED = new Set([
  'FrameError', 'QuantiseError', 'ManifestError', 'ImageError', 'DeviceIdError', 'TopicError',
  'AnswerError', 'TokenShapeError', 'ConfigError', 'CommanderError', 'CameraError', 'EncoderError', 'CommandError',
]);

export function reportFailure(command: string, error: unknown): number {
  if (error instanceof Error && (EXPECTED.has(error.name) || (error as NodeJS.ErrnoException).code === 'ENOENT')) {
    process.stderr.write(`${command}: error: ${error.message}\n`);
    return 1;
  }
  process.stderr.write(`${command}: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return 70;
}
