/**
 * Where answers go once stored: the outbox keeps them (for `splitoculo-edge
 * answers`), and optionally a JSON-lines file or a program that receives the
 * answer on stdin, for integrators.
 */
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { AnswerEnvelope } from '../../protocol/answer.ts';
import type { EdgeConfig } from '../config/schema.ts';
import { ensureStateFile } from '../../runtime/state-paths.ts';

export function answerHook(config: EdgeConfig['answers'], log: Logger): (answer: AnswerEnvelope) => void {
  // At start, not at the first answer: its folder is created (0750), or the daemon stops with one line naming answers.jsonlFile.
  if (config.jsonlFile) ensureStateFile(config.jsonlFile, 'answers.jsonlFile');
  return (answer) => {
    const line = JSON.stringify(answer);
    if (config.jsonlFile) {
      try {
        appendFileSync(config.jsonlFile, line + '\n');
      } catch (error) {
        log.warn({ file: config.jsonlFile, err: (error as Error).message }, 'cannot append the answer to answers.jsonlFile');
      }
    }
    if (config.command) {
      const [program, ...args] = config.command;
      const child = spawn(program!, args, { stdio: ['pipe', 'ignore', 'inherit'], shell: false });
      child.on('error', (error) => log.warn({ command: config.command, err: error.message }, 'answers.command could not run'));
      child.on('close', (code) => {
        if (code) log.warn({ command: config.command, code }, 'answers.command failed');
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(line + '\n');
    }
  };
}
