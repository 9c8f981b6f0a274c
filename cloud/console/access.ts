/**
 * Who may use the console. On loopback without a token file: anyone on this
 * machine, but only through a loopback Host header (a web page elsewhere
 * cannot reach it by DNS rebinding). With a token file: a request carries
 * the token (`Authorization: Bearer <token>`) or the session cookie set by
 * the login page, which holds an HMAC of the token, never the token itself.
 * Both are compared in constant time (digests of equal length).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { statSync, readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { UserError } from '../../protocol/errors.ts';
import { isLoopbackHost } from '../config/console.ts';

export class ConsoleTokenError extends UserError {
  override readonly name = 'ConsoleTokenError';
}

export const COOKIE_NAME = 'splitoculo_console';
/** A token is a line; shorter than this is guessable, larger files are mistakes. */
export const TOKEN_MIN_LENGTH = 16;
const TOKEN_FILE_MAX_BYTES = 4096;

/** Reads the token file (a small regular file, first line, trimmed); the error names console.tokenFile. */
export function readTokenFile(path: string): string {
  let size: number;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new ConsoleTokenError(`console.tokenFile (${path}): not a regular file`);
    size = stat.size;
  } catch (error) {
    if (error instanceof ConsoleTokenError) throw error;
    throw new ConsoleTokenError(`console.tokenFile (${path}): cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  if (size > TOKEN_FILE_MAX_BYTES) throw new ConsoleTokenError(`console.tokenFile (${path}): ${size} bytes; expected one token of at most ${TOKEN_FILE_MAX_BYTES}`);
  const token = (readFileSync(path, 'utf8').split('\n')[0] ?? '').trim();
  if (token.length < TOKEN_MIN_LENGTH)
    throw new ConsoleTokenError(`console.tokenFile (${path}): the token has ${token.length} characters; expected at least ${TOKEN_MIN_LENGTH} (e.g. openssl rand -hex 24)`);
  return token;
}

const digest = (text: string) => createHash('sha256').update(text).digest();

function sameSecret(given: string, expected: Buffer): boolean {
  return timingSafeEqual(digest(given), expected);
}

function cookie(req: IncomingMessage, name: string): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return null;
}

function hostOf(header: string | undefined): string {
  if (!header) return '';
  const bracket = header.match(/^\[([^\]]+)\]/);
  return bracket ? bracket[1]! : header.split(':')[0]!;
}

export class ConsoleAccess {
  readonly #token: Buffer | null;
  readonly #session: string | null;
  readonly #sessionDigest: Buffer | null;

  /** token: null for an open loopback console. */
  constructor(token: string | null) {
    this.#token = token === null ? null : digest(token);
    this.#session = token === null ? null : createHmac('sha256', token).update('splitoculo-console-session-v1').digest('hex');
    this.#sessionDigest = this.#session === null ? null : digest(this.#session);
  }

  get open(): boolean {
    return this.#token === null;
  }

  /** Whether the request may use the console. */
  allows(req: IncomingMessage): boolean {
    if (this.#token === null) return isLoopbackHost(hostOf(req.headers.host));
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ') && sameSecret(auth.slice(7).trim(), this.#token)) return true;
    const session = cookie(req, COOKIE_NAME);
    return session !== null && sameSecret(session, this.#sessionDigest!);
  }

  /** Checks a token typed into the login page; the Set-Cookie value when it is right. */
  login(token: string): string | null {
    if (this.#token === null || !sameSecret(token.trim(), this.#token)) return null;
    return `${COOKIE_NAME}=${this.#session}; HttpOnly; SameSite=Strict; Path=/`;
  }
}
