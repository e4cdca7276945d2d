// Terminal helpers for the CLI: reading secrets from stdin, and the only ways it prints (lines,
// tables, JSON), each of which keeps control characters from elsewhere off the terminal.

import { LifelineError } from '../common/errors.js';
import { escapeJsonControls, printable, stringifyPrintable } from '../common/printable.js';

export async function readStdin(what: string): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write(`${what}: `);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (!text) throw new LifelineError('API_BAD_REQUEST', `${what} expected on standard input, got nothing`);
  return text;
}

declare const terminalTextBrand: unique symbol;

/**
 * Text the CLI may write to the terminal: made by `tty`, which passes everything that came from
 * elsewhere (a station, a technician, a hub's or agent's answer, a stored row) through `printable`.
 * The CLI prints only through printLine, printError, printTable and printJson, so a string that
 * skipped `printable` does not type-check.
 */
export type TerminalText = string & { readonly [terminalTextBrand]: true };

/**
 * A template whose literal parts are the CLI's own (line breaks included) and whose every
 * interpolated value is made printable: tty`Station ${name} revoked`.
 */
export function tty(literals: TemplateStringsArray, ...values: readonly (string | number)[]): TerminalText {
  let text = literals[0] ?? '';
  for (const [index, value] of values.entries())
    text += printable(String(value)) + (literals[index + 1] ?? '');
  return text as TerminalText;
}

/** One line (or several, from tty's own line breaks) on standard output. */
export function printLine(text: TerminalText): void {
  console.log(text);
}

/** One line on standard error: progress, warnings and errors. */
export function printError(text: TerminalText): void {
  console.error(text);
}

export function printTable(rows: Record<string, string>[], columns: string[]): void {
  const cells = rows.map((row) => columns.map((c) => printable(row[c] ?? '')));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (row: string[]) =>
    row
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  console.log(line(columns.map((c) => c.toUpperCase())));
  for (const row of cells) console.log(line(row));
}

export function ago(iso: string | null | undefined, nowMs = Date.now()): string {
  if (!iso) return '-';
  const seconds = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86400)}d ago`;
}

/** JSON text made elsewhere (JSON lines of an export), with DEL, C1 and bidi controls escaped. */
export function printJsonText(json: string): void {
  process.stdout.write(escapeJsonControls(json));
}

/**
 * The exact bytes of a payload as it left (`agent sent --show`), not filtered, by design: what the
 * administrator checks must be what was sent. docs/protocol.md says to pipe it through jq or cat -v.
 */
export function printExactBytes(text: string): void {
  process.stdout.write(text);
}

/** JSON with the original text, DEL, C1 and bidi controls escaped too (JSON.parse gives them back). */
export function printJson(value: unknown): void {
  console.log(stringifyPrintable(value, 2));
}
