/**
 * What the daemon remembers across restarts, in one small JSON file beside
 * the outbox (`<outbox.path>.state.json`, or `state.path`): the settings an
 * operator changed by command (prompt, interval, paused) and the Home
 * Assistant discovery topics it has published (so it can clear them when
 * discovery is turned off).
 *
 * Invariants:
 * - The file is replaced atomically (write a temporary file, fsync, rename):
 *   a crash leaves the old state or the new one, never half of either.
 * - A command's setting wins over the configured one at the next start,
 *   unless the configured value has changed since the command: each stored
 *   setting carries the configured value it overrode (`base`), and an edited
 *   config file is the newer intent.
 * - A missing, oversized or unreadable file is not fatal: the daemon starts
 *   from its configuration and says so once (it keeps serving).
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import type { Logger } from 'pino';
import { z } from 'zod';
import { promptText } from '../../protocol/limits.ts';

export interface Settings {
  prompt: string | null;
  intervalMs: number;
  paused: boolean;
}

/** Larger than any state this daemon writes by far; a bigger file is not read. */
const MAX_STATE_BYTES = 64 * 1024;

const settingsSchema = z.object({ prompt: promptText.nullable(), intervalMs: z.number().int().min(0).max(86_400_000), paused: z.boolean() }).strict();
const stateSchema = z
  .object({
    v: z.literal(1),
    settings: settingsSchema.partial(),
    base: settingsSchema.partial(),
    homeassistant: z.object({ published: z.array(z.string().max(512)).max(64) }).strict(),
  })
  .strict();
type StoredState = z.infer<typeof stateSchema>;

const EMPTY: StoredState = { v: 1, settings: {}, base: {}, homeassistant: { published: [] } };

export function defaultStatePath(outboxPath: string): string {
  return `${outboxPath}.state.json`;
}

export class StateStore {
  readonly path: string;
  readonly #log: Pick<Logger, 'warn'>;
  #state: StoredState = structuredClone(EMPTY);

  constructor(path: string, log: Pick<Logger, 'warn'>) {
    this.path = path;
    this.#log = log;
    this.#state = this.#read();
  }

  /** The settings to start with: each stored one whose configured value is unchanged, else the configured one. */
  settings(configured: Settings): Settings {
    const { settings, base } = this.#state;
    const pick = <K extends keyof Settings>(key: K): Settings[K] => (settings[key] !== undefined && base[key] === configured[key] ? (settings[key] as Settings[K]) : configured[key]);
    return { prompt: pick('prompt'), intervalMs: pick('intervalMs'), paused: pick('paused') };
  }

  /** Records a setting changed by command, with the configured value it overrides. */
  remember<K extends keyof Settings>(key: K, value: Settings[K], configured: Settings[K]): void {
    this.#state.settings[key] = value;
    this.#state.base[key] = configured;
    this.#write();
  }

  get publishedDiscovery(): readonly string[] {
    return this.#state.homeassistant.published;
  }

  set publishedDiscovery(topics: readonly string[]) {
    this.#state.homeassistant.published = [...topics].sort();
    this.#write();
  }

  #read(): StoredState {
    let text: string;
    try {
      const size = statSync(this.path).size;
      if (size > MAX_STATE_BYTES) throw new Error(`${size} bytes, at most ${MAX_STATE_BYTES} expected`);
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.#log.warn({ file: this.path, err: (error as Error).message }, 'state file not read; starting from the configuration');
      return structuredClone(EMPTY);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = stateSchema.safeParse(json);
    if (parsed.success) return parsed.data;
    this.#log.warn({ file: this.path, err: json === undefined ? 'not JSON' : parsed.error.issues[0]?.message }, 'state file not understood; starting from the configuration');
    return structuredClone(EMPTY);
  }

  #write(): void {
    const temporary = `${this.path}.tmp`;
    try {
      const fd = openSync(temporary, 'w', 0o640);
      try {
        writeSync(fd, JSON.stringify(this.#state));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temporary, this.path);
    } catch (error) {
      // The setting still applies now; it is the restart that would lose it.
      this.#log.warn({ file: this.path, err: (error as Error).message }, 'state not saved; the change lasts until restart');
    }
  }
}
