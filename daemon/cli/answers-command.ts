/**
 * `splitoculo-edge answers`: the answers the board received, newest last;
 * --follow tails. Every field is printed through runtime/printable.ts: answer
 * text comes from a model (or a forger on the broker) and must not drive the
 * terminal; --json keeps JSON with the C1/bidi controls escaped too.
 */
import type { Command } from 'commander';
import { openOutbox } from '../edge-daemon.ts';
import { addConfigOptions, configFromFlags, type ConfigFlags } from './config-options.ts';
import { parsePositiveCount } from './options.ts';
import { printable, printableJson } from '../../runtime/printable.ts';

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
        if (flags.json) console.log(printableJson(row.payload));
        else {
          const a = JSON.parse(row.payload);
          const said = a.error ? `ERROR ${a.error.code}: ${a.error.message}` : a.text;
          console.log(`${new Date(row.receivedAt).toISOString()}  #${printable(String(a.sequence ?? '?'))}  ${printable(String(a.frameId))}  ${printable(String(said))}`);
        }
      }
    };
    print(all.slice(-flags.limit));
    if (!flags.follow) return outbox.close();
    setInterval(() => print(outbox.answers({ afterReceivedAt: last, limit: 1000 })), 500);
    await new Promise(() => undefined);
  });
}
