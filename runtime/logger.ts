/**
 * Logs (pino) on stdout: readable lines on a terminal (pino-pretty: time,
 * level, message, then the fields), JSON lines otherwise (files, pipes,
 * log shippers). Under systemd (JOURNAL_STREAM set) always JSON, each line
 * starting with its syslog priority, `<3>` for errors, so journald files it
 * at the right level and `journalctl -p warning` works.
 *
 * `format` 'auto' (the default) picks by whether stdout is a terminal;
 * 'json' and 'pretty' force one.
 */
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

const PRIORITY_BY_LEVEL: Record<number, number> = { 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 };

export type LogFormat = 'auto' | 'json' | 'pretty';

export interface LoggerOptions {
  journald?: boolean;
  name?: string;
  format?: LogFormat;
  /** Whether stdout is a terminal (tests); default: process.stdout.isTTY. */
  terminal?: boolean;
}

export function createLogger(level: string, options: LoggerOptions = {}): Logger {
  const journald = options.journald ?? process.env.JOURNAL_STREAM !== undefined;
  const base = { level, base: { name: options.name ?? 'splitoculo-edge' }, timestamp: pino.stdTimeFunctions.isoTime };
  const format = options.format ?? 'auto';
  const terminal = options.terminal ?? process.stdout.isTTY === true;
  if (!journald && (format === 'pretty' || (format === 'auto' && terminal))) {
    // Synchronous, in this thread (no transport worker): a line is out before the next statement, as with JSON.
    return pino(base, pretty({ sync: true, destination: 1, colorize: terminal, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,name', singleLine: true }));
  }
  if (!journald) return pino(base, pino.destination({ dest: 1, sync: true }));
  const stdout = pino.destination({ dest: 1, sync: true });
  return pino(base, {
    write(line: string) {
      const level = Number(/"level":(\d+)/.exec(line)?.[1] ?? 30);
      stdout.write(`<${PRIORITY_BY_LEVEL[level] ?? 6}>${line}`);
    },
  });
}
