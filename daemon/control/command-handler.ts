/**
 * Operator commands arriving on <prefix>/<device>/command (protocol/commands.ts):
 * each is applied to the capture settings, remembered as `lastCommand`
 * (applied, or refused with the reason: a malformed command changes
 * nothing) and the status document is republished, so the operator sees the
 * reply. Bad input is counted, never thrown: the message is acknowledged.
 * A well-formed command a target declines (a second ask while one is
 * pending, a preview while offline) is refused with the target's reason and
 * counted as `refused`.
 */
import type { Logger } from 'pino';
import { parseCommand, type EdgeCommand } from '../../protocol/commands.ts';
import type { LastCommand } from '../../protocol/status.ts';
import type { EdgeMetrics } from '../ops/metrics.ts';

/** What commands act on: the capture part and frame production's prompt. */
export interface CommandTargets {
  setPrompt(prompt: string | null): void;
  capture(): void;
  pause(): void;
  resume(): void;
  setInterval(ms: number): void;
  /** Capture the newest image for this ask; the reason when it cannot be taken. */
  ask(prompt: string, id: string): string | null;
  /** Publish one thumbnail; the reason when it cannot be sent. */
  preview(): string | null;
}

export interface CommandHandlerDeps {
  targets: CommandTargets;
  metrics: Pick<EdgeMetrics, 'commands'>;
  log: Pick<Logger, 'info' | 'warn'>;
  /** Republish the status (with the new lastCommand). */
  changed: () => void;
  now?: () => Date;
}

export class CommandHandler {
  readonly #deps: CommandHandlerDeps;
  #last: LastCommand | null = null;

  constructor(deps: CommandHandlerDeps) {
    this.#deps = deps;
  }

  get lastCommand(): LastCommand | null {
    return this.#last;
  }

  receive(payload: Uint8Array): void {
    const { metrics, log } = this.#deps;
    const at = (this.#deps.now?.() ?? new Date()).toISOString();
    let command: EdgeCommand;
    try {
      command = parseCommand(payload);
    } catch (error) {
      metrics.commands.inc({ outcome: 'invalid' });
      this.#last = { ok: false, error: (error as Error).message, at };
      log.warn({ err: (error as Error).message }, 'command rejected');
      this.#deps.changed();
      return;
    }
    const refusal = this.#apply(command);
    if (refusal !== null) {
      metrics.commands.inc({ outcome: 'refused' });
      this.#last = { ok: false, command: command.command, ...(command.id && { id: command.id }), error: refusal, at };
      log.warn({ command: command.command, id: command.id, reason: refusal }, 'command refused');
      this.#deps.changed();
      return;
    }
    metrics.commands.inc({ outcome: 'applied' });
    this.#last = { ok: true, command: command.command, ...(command.id && { id: command.id }), at };
    log.info({ command }, 'command applied');
    this.#deps.changed();
  }

  /** Applies the command; the target's reason when it declined. */
  #apply(command: EdgeCommand): string | null {
    const { targets } = this.#deps;
    switch (command.command) {
      case 'set-prompt':
        targets.setPrompt(command.prompt);
        break;
      case 'capture':
        targets.capture();
        break;
      case 'pause':
        targets.pause();
        break;
      case 'resume':
        targets.resume();
        break;
      case 'set-interval':
        targets.setInterval(command.intervalMs);
        break;
      case 'ask':
        return targets.ask(command.prompt, command.id);
      case 'preview':
        return targets.preview();
    }
    return null;
  }
}
