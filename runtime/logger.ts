/**
 * JSON logs (pino) on stdout. Under systemd (JOURNAL_STREAM set) each line
 * starts with its syslog priority, `<3>` for errors, so journald files it at
 * the right level and `journalctl -p warning` works.
 */
import pino, { type Logger } from 'pino';

const PRIORITY_BY_LEVEL: Record<number, number> = { 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 };

export function createLogger(level: string, options: { journald?: boolean; name?: string } = {}): Logger {
  const journald = options.journald ?? process.env.JOURNAL_STREAM !== undefined;
  const base = { level, base: { name: options.name ?? 'splitoculo-edge' }, timestamp: pino.stdTimeFunctions.isoTime };
  if (!journald) return pino(base, pino.destination({ dest: 1, sync: true }));
  const stdout = pino.destination({ dest: 1, sync: true });
  return pino(base, {
    write(line: string) {
      const level = Number(/"level":(\d+)/.exec(line)?.[1] ?? 30);
      stdout.write(`<${PRIORITY_BY_LEVEL[level] ?? 6}>${line}`);
    },
  });
}
