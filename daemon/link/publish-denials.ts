/**
 * Frames the broker refuses. Under MQTT 5 a PUBACK may carry a reason code
 * >= 0x80 (0x87 not authorized: the ACL denies the topic; 0x97 quota
 * exceeded, ...). Before, the refusal was ignored, the frame stayed in flight
 * until the PUBACK timeout and was sent again, forever, one timeout at a time.
 *
 * Decided behaviour: a refused frame is not lost and not spun on. It stays
 * queued (the outbox's bounds and named evictions apply as to any queued
 * frame: nothing accepted is dropped silently); frames are held back for
 * `holdMs` (mqtt.backoffMaxMs) after a refusal and then offered again, since
 * an operator can fix an ACL without touching the board; a new connection
 * offers them at once. The operator sees why frames are not leaving: the
 * splitoculo_publish_denied_total{reason} metric, the status document's
 * `publishDenied` (reason, code, frames refused, since) and one log line per
 * burst (again only if the reason changes; one more when frames flow again).
 */
import type { Logger } from 'pino';
import type { Clock } from './clock.ts';
import type { PacketSeen } from './edge-connection.ts';

export interface DenialState {
  code: number;
  reason: string;
  /** Refusals since the burst began. */
  frames: number;
  /** ISO 8601 time of the burst's first refusal. */
  since: string;
}

/** MQTT 5 PUBACK reason 0x10: the broker took the message and no subscription matched it. */
export const NO_MATCHING_SUBSCRIBERS = 0x10;

/** The PUBACK reason code of a publish error, when the broker refused it (>= 0x80, or 0x10 as UnroutedAcks reports it); null for anything else (a closed connection). */
export function refusalCode(error: unknown): number | null {
  if (error instanceof UnroutedError) return NO_MATCHING_SUBSCRIBERS;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' && code >= 0x80 && code <= 0xff ? code : null;
}

/** What UnroutedAcks makes of a frame's 0x10 PUBACK. */
export class UnroutedError extends Error {
  override readonly name = 'UnroutedError';
  constructor() {
    super('Publish error: No matching subscribers');
  }
}

/**
 * PUBACKs with 0x10, which mqtt.js reports to the publish callback as a plain
 * success. For a frame that means nobody has it (no cloud worker's session
 * holds a subscription: a broker restarted without persistence, no worker
 * ever started), so the publisher treats it as a refusal: held back and
 * offered again, never counted delivered. Kept by message id from the packet
 * as read until the frame's callback takes it; any other PUBACK for that id
 * clears it, so a status publish's 0x10 cannot mark a later frame that reuses
 * the id.
 */
export class UnroutedAcks {
  readonly #ids = new Set<number>();

  /** Every packet read. */
  note(packet: PacketSeen): void {
    if (packet.cmd !== 'puback' || packet.messageId === undefined) return;
    if (packet.reasonCode === NO_MATCHING_SUBSCRIBERS) this.#ids.add(packet.messageId);
    else this.#ids.delete(packet.messageId);
  }

  /** The error a publish callback should have had: a refusal with code 0x10 when its PUBACK said so, else null. */
  take(published: unknown): Error | null {
    const messageId = (published as { messageId?: number } | undefined)?.messageId;
    if (messageId === undefined || !this.#ids.delete(messageId)) return null;
    return new UnroutedError();
  }

  clear(): void {
    this.#ids.clear();
  }
}

export interface PublishDenialsOptions {
  clock: Clock;
  log: Pick<Logger, 'warn' | 'info'>;
  /** How long frames are held back after a refusal. */
  holdMs: number;
  onDenied?: ((code: number, reason: string) => void) | undefined;
}

export class PublishDenials {
  readonly #o: PublishDenialsOptions;
  #state: DenialState | null = null;
  #holdUntil = 0;

  constructor(options: PublishDenialsOptions) {
    this.#o = options;
  }

  get state(): DenialState | null {
    return this.#state;
  }

  /** A frame refused with `code`; `message` is mqtt.js's ("Publish error: Not authorized"). */
  denied(code: number, message: string): void {
    const { clock, log, holdMs } = this.#o;
    const reason = message.replace(/^Publish error: /, '').toLowerCase() || `reason 0x${code.toString(16)}`;
    const previous = this.#state;
    if (previous?.code !== code) {
      log.warn({ code: `0x${code.toString(16)}`, reason, retryMs: holdMs }, 'the broker refuses frames; they stay queued and are offered again');
    }
    const same = previous?.code === code;
    this.#state = { code, reason, frames: same ? previous.frames + 1 : 1, since: same ? previous.since : new Date(clock.wallNow()).toISOString() };
    this.#holdUntil = clock.now() + holdMs;
    this.#o.onDenied?.(code, reason);
  }

  /** A frame accepted: the burst is over. */
  accepted(): void {
    if (!this.#state) return;
    this.#o.log.info({ refused: this.#state.frames, reason: this.#state.reason }, 'the broker accepts frames again');
    this.#state = null;
    this.#holdUntil = 0;
  }

  /** How long frames are still held back (0: send). */
  holdMs(): number {
    return Math.max(0, this.#holdUntil - this.#o.clock.now());
  }

  /** A new connection: offer the frames at once (the broker, or its ACL, may have changed). */
  reconnected(): void {
    this.#holdUntil = 0;
  }
}
