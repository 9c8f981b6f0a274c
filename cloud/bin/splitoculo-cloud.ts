#!/usr/bin/env node
// splitoculo-cloud: the cloud worker and its tools.
import { Command } from 'commander';
import { reportFailure } from '../../protocol/cli-errors.ts';
import { VERSION } from '../../protocol/version.ts';
import { registerDecode } from '../cli/decode-command.ts';

const program = new Command('splitoculo-cloud')
  .description('SplitOculo cloud: bottleneck-token frames -> layer-L vision features -> answers')
  .version(VERSION, '-V, --version')
  .showHelpAfterError()
  .exitOverride();
registerDecode(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const code = (error as { code?: string }).code;
  if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') process.exit(0);
  if (typeof code === 'string' && code.startsWith('commander.')) process.exit(2);
  process.exitCode = reportFailure('splitoculo-cloud', error);
}
