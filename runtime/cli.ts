/**
 * The shell both commands share. On failure a command prints one line naming
 * the input and what was expected, and exits 1; a bad option exits 2.
 * Errors of the project's own kinds are expected failures (bad input);
 * anything else is a bug and keeps its stack (exit 70).
 */
import { Command } from 'commander';
import { versionReport } from './version.ts';

const EXPECTED = new Set([
  'FrameError', 'QuantiseError', 'ManifestError', 'ImageError', 'DeviceIdError', 'TopicError',
  'AnswerError', 'TokenShapeError', 'ConfigError', 'AnswererError', 'NpyError', 'BrokerError', 'KeyFileError', 'CommanderError', 'CameraError', 'EncoderError', 'CommandError',
]);

/**
 * mqtt 5 parses broker URLs with url.parse, which Node 24 deprecates (DEP0169)
 * on every start; the warning tells an operator nothing they can act on.
 */
function silenceUrlParseDeprecation(): void {
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: unknown, ...rest: unknown[]) => {
    const options = rest[0];
    const code = typeof options === 'object' && options !== null ? (options as { code?: string }).code : rest[1];
    if (code === 'DEP0169') return;
    emit(warning, ...rest);
  }) as typeof process.emitWarning;
}

/** The root command of a bin; configured before subcommands are added, which inherit it. */
export function createProgram(name: string, description: string): Command {
  silenceUrlParseDeprecation();
  const program = new Command(name).description(description).showHelpAfterError().exitOverride();
  // Not commander's .version(): the report loads the native addons, so runCommandLine
  // answers it before parsing, and only when asked.
  program.option('-V, --version', 'print the version, the git commit and the versions of Node and the native addons');
  return program;
}

export async function runCommandLine(program: Command, name: string): Promise<void> {
  if (process.argv[2] === '-V' || process.argv[2] === '--version') {
    process.stdout.write(`${await versionReport(name)}\n`);
    return;
  }
  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') process.exit(0);
    if (typeof code === 'string' && code.startsWith('commander.')) process.exit(2);
    process.exitCode = reportFailure(name, error);
  }
}

export function reportFailure(command: string, error: unknown): number {
  if (error instanceof Error && (EXPECTED.has(error.name) || (error as NodeJS.ErrnoException).code === 'ENOENT')) {
    process.stderr.write(`${command}: error: ${error.message}\n`);
    return 1;
  }
  process.stderr.write(`${command}: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return 70;
}
