#!/usr/bin/env node
// splitoculo-edge: the edge daemon and its tools.
import { createProgram, runCommandLine } from '../../runtime/cli.ts';
import { registerAnswers } from '../cli/answers-command.ts';
import { registerCameras } from '../cli/cameras-command.ts';
import { registerCheck } from '../cli/check-command.ts';
import { registerConfig } from '../cli/config-command.ts';
import { registerEncode } from '../cli/encode-command.ts';
import { registerInit } from '../cli/init-command.ts';
import { registerQueue } from '../cli/queue-command.ts';
import { registerRun } from '../cli/run-command.ts';

const program = createProgram('splitoculo-edge', 'SplitOculo edge: camera frames -> ~3 KB bottleneck-token frames -> MQTT');
registerRun(program);
registerEncode(program);
registerQueue(program);
registerAnswers(program);
registerCheck(program);
registerCameras(program);
registerConfig(program);
registerInit(program);

void runCommandLine(program, 'splitoculo-edge');
