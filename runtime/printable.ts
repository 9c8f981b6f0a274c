/**
 * Text fit for a terminal. Answer text, prompts, device ids in frame headers
 * and error messages come from outside (a model looking at whatever the
 * camera sees, a forged answer on the broker): printed raw, `\n` and ESC
 * sequences drew fake lines, cleared the screen and set the window title
 * (issue 15, finding 5). Every human-facing printer of both programs and the
 * demo passes such text through here; nothing it returns can move the cursor,
 * start an escape sequence or reorder what follows.
 *
 * Escaped: every C0 control (newline shown as ⏎, tab and carriage return as
 * \t and \r, the rest as \xNN), DEL and the C1 controls (\x7f..\x9f, where
 * 0x9b is a one-byte CSI), the bidi overrides and isolates and the Unicode
 * line/paragraph separators (as \u{...}). A backslash stays a backslash: the
 * output is for eyes, not for parsing back (use --json for that).
 */

const NAMED: Readonly<Record<number, string>> = { 10: '⏎', 9: '\\t', 13: '\\r' };

function unsafe(code: number): boolean {
  return code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029 || (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069);
}

/** One printable line: nothing in it is a control character. */
export function printable(text: string): string {
  let out = '';
  for (const c of text) {
    const code = c.codePointAt(0)!;
    if (!unsafe(code)) out += c;
    else out += NAMED[code] ?? (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`);
  }
  return out;
}

/** Characters JSON.stringify leaves raw that a terminal still obeys: DEL, C1, the separators and bidi controls. */
const JSON_RAW_UNSAFE = /[\u007f-\u009f\u2028-\u202e\u2066-\u2069]/g;

/**
 * JSON text fit for a terminal and still valid JSON with the same value:
 * JSON.stringify escapes C0 but leaves DEL, C1 (0x9b is CSI) and bidi
 * controls raw; those become \uXXXX escapes. For `--json` outputs and for
 * JSON stored as text (an answer's payload) printed as it is.
 */
export function printableJson(json: string): string {
  return json.replace(JSON_RAW_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** JSON.stringify, then printableJson. */
export function stringifyPrintable(value: unknown, indent?: number): string {
  return printableJson(JSON.stringify(value, null, indent));
}

/** user:password@ in any URL inside free text (an error message, a flag quoted back). */
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/[^\s:@/]*):[^\s@/]*@/gi;

/**
 * Text fit for a log line or a terminal: the password of every URL in it
 * replaced (mqtt://user:***@host). Config refuses such URLs, but the refusal
 * itself quoted the flag or variable back, password included.
 */
export function redactSecrets(text: string): string {
  return text.replace(URL_CREDENTIALS, '$1:***@');
}
