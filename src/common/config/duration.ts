// Durations as people write them in flags and config: "90s", "15m", "8h", "2d", "5y" or "1h30m".
// A year is 365 days: retention periods are counted in whole days, not calendar years.

import { LifelineError } from '../errors.js';

const unitMs: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  y: 365 * 86_400_000,
};
const part = /(\d+)(ms|s|m|h|d|y)/gy;

export function parseDurationMs(text: string, what = 'duration'): number {
  const trimmed = text.trim();
  let total = 0;
  let consumed = 0;
  part.lastIndex = 0;
  for (let match = part.exec(trimmed); match; match = part.exec(trimmed)) {
    const [whole, amount = '', unit = ''] = match;
    total += Number(amount) * (unitMs[unit] ?? 0);
    consumed += whole.length;
  }
  if (trimmed.length === 0 || consumed !== trimmed.length || total <= 0) {
    throw new LifelineError(
      'CONFIG_INVALID',
      `${what}: expected a duration such as 90s, 15m, 8h or 1h30m, got ${JSON.stringify(text)}`,
    );
  }
  return total;
}

export function formatDurationMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const seconds = Math.round(ms / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return [h ? `${h}h` : '', m ? `${m}m` : '', s || (!h && !m) ? `${s}s` : ''].join('');
}
