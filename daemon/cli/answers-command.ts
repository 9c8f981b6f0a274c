/** `splitoculo-edge answers`: the answers the board received, newest last; --follow tails. */
import type { Command } from 'commander';
import { openOutbox } from '../edge-daemon.ts';
import { addConfigOptions, configFromFlags, type ConfigFlags } from './config-options.ts';
import { parsePositiveCount } from './options.ts';

export function registerAnswers(program: Command): void {
  addConfigOptions(
    program
      .command('answers')
      .description('list the stored answers')
      .option('-n, --limit <n>', 'how many, at least 1', parsePositiveCount, 20)
      .option('-f, --follow', 'keep printing new answers')
      .option('--json', 'one JSON document per line'),
  ).action(async (flags: ConfigFlags & { limit: number; follow?: boolean; json?: boolean }) => {
    const outbox = openOutbox(configFromFlags(flags));
    const all = outbox.answers({ limit: 1_000_000 });
    let last = -1;
    const print = (rows: typeof all) => {
      for (const row of rows) {
        last = Math.max(last, row.receivedAt);
        if (flags.json) console.log(row.payload);
        else {
          const a = JSON.parse(row.payload);
          console.log(`${new Date(row.receivedAt).toISOString()}  #${a.sequence ?? '?'}  ${a.frameId}  ${a.error ? `ERROR ${a.error.code}: ${a.error.message}` : a.text}`);
        }
      }
    };
    print(all.slice(-flags.limit));
    if (!flags.follow) return outbox.close();
    setInterval(() => print(outbox.answers({ afterReceivedAt: last, limit: 1000 })), 500);
    await new Promise(() => undefined);
  });
}
