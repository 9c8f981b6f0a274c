#!/usr/bin/env node
// splitoculo-edge: the edge daemon and its tools.
import { Command } from 'commander';
import { reportFailure } from '../../protocol/cli-errors.ts';
import { registerAnswers } from '../cli/answers-command.ts';
import { registerCheck } from '../cli/check-command.ts';
import { registerConfig } from '../cli/config-command.ts';
import { registerEncode } from '../cli/encode-command.ts';
import { registerQueue } from '../cli/queue-command.ts';
import { registerRun } from '../cli/run-command.ts';
import { VERSION } from '../../protocol/version.ts';

const program = new Command('splitoculo-edge')
  .description('SplitOculo edge: camera frames -> ~3 KB bottleneck-token frames -> MQTT')
  .version(VERSION, '-V, --version')
  .showHelpAfterError()
  .exitOverride();
registerRun(program);
registerEncode(program);
registerQueue(program);
registerAnswers(program);
registerCheck(program);
registerConfig(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const code = (error as { code?: string }).code;
  if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') process.exit(0);
  if (typeof code === 'string' && code.startsWith('commander.')) process.exit(2);
  process.exitCode = reportFailure('splitoculo-edge', error);
}
