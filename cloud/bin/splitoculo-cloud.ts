#!/usr/bin/env node
// splitoculo-cloud: the cloud worker and its tools.
import { createProgram, runCommandLine } from '../../runtime/cli.ts';
import { registerDecode } from '../cli/decode-command.ts';

const program = createProgram('splitoculo-cloud', 'SplitOculo cloud: bottleneck-token frames -> layer-L vision features -> answers');
registerDecode(program);

void runCommandLine(program, 'splitoculo-cloud');
