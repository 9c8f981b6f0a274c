#!/usr/bin/env node
// splitoculo-cloud: the cloud worker and its tools.
import { createProgram, runCommandLine } from '../../runtime/cli.ts';
import { registerAsk } from '../cli/ask-command.ts';
import { registerCheck } from '../cli/check-command.ts';
import { registerConfig } from '../cli/config-command.ts';
import { registerDecode } from '../cli/decode-command.ts';
import { registerRun } from '../cli/run-command.ts';

const program = createProgram('splitoculo-cloud', 'SplitOculo cloud: bottleneck-token frames -> layer-L vision features -> answers');
registerRun(program);
registerCheck(program);
registerDecode(program);
registerConfig(program);
registerAsk(program);

void runCommandLine(program, 'splitoculo-cloud');
