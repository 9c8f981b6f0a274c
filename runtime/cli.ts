/**
 * The shell both commands share. An expected failure (a UserError: bad input
 * from the person or a file) prints one line that names the input and what
 * was expected, exit 1; a bad option or argument, one line and exit 2. Any
 * other error is a bug: one line saying so, exit 70, and the stack only with
 * --debug (or SPLITOCULO_DEBUG=1), so a user never has to read a stack trace
 * to learn they made a typo.
 */
import { Command } from 'commander';
import { isUserError } from '../protocol/errors.ts';
import { printable, redactSecrets } from './printable.ts';
import { describeSystemError } from './system-errors.ts';
import { versionReport } from './version.ts';

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

/** One line: commander's message without its trailing newline, and a pointer to --help instead of the whole help text. */
function usageLine(name: string, message: string): string {
  return `${name}: ${message
    .trim()
    .replace(/^error: /, 'usage error: ')
    .replace(/\n+/g, '; ')} (see ${name} --help)\n`;
}

/** The root command of a bin; configured before subcommands are added, which inherit it. */
export function createProgram(name: string, description: string): Command {
  silenceUrlParseDeprecation();
  const program = new Command(name)
    .description(description)
    .exitOverride()
    .configureOutput({ outputError: (message, write) => write(usageLine(name, message)) });
  // Not commander's .version(): the report loads the native addons, so runCommandLine
  // answers it before parsing, and only when asked.
  program.option('-V, --version', 'print the version, the git commit and the versions of Node and the native addons');
  program.option('--debug', 'on an internal error, print its stack trace');
  return program;
}

function debugWanted(argv: readonly string[], env: NodeJS.ProcessEnv): boolean {
  return argv.includes('--debug') || env.SPLITOCULO_DEBUG === '1';
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
    process.exitCode = reportFailure(name, error, debugWanted(process.argv, process.env));
  }
}

/** Prints the failure as described above and returns the exit code. */
export function reportFailure(command: string, error: unknown, debug = false): number {
  const expected = isUserError(error) ? error.message : describeSystemError(error);
  if (expected !== null) {
    // Messages can quote what a device or file supplied: escaped, so the line stays one line and drives nothing;
    // and what a user typed: a URL's password is never repeated.
    process.stderr.write(`${command}: error: ${printable(redactSecrets(expected.replace(/\s*\n\s*/g, '; ')))}\n`);
    if (debug && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  if (debug) process.stderr.write(`${command}: internal error: ${error instanceof Error ? (error.stack ?? message) : message}\n`);
  else process.stderr.write(`${command}: internal error (a bug, please report it): ${printable(redactSecrets(message.replace(/\s*\n\s*/g, '; ')))}; run again with --debug for the stack trace\n`);
  return 70;
}
