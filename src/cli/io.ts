// Terminal helpers for the CLI: reading secrets from stdin, printing tables, times.

import { LifelineError } from '../common/errors.js';

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

/**
 * `text` with every control character (C0, DEL, C1) shown as U+FFFD: cells and fields carry what
 * stations and users sent (summaries, notes, names), which must not reach the terminal as escape
 * sequences that move the cursor, rewrite lines or set the window title.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '\ufffd');
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

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}
