// What a report holds, in one line for people: the `contains` of its manifest and of the agent's
// transmission log ("problem.open PB-7KQ3AB: Fan 3 failed", "inventory: 3 systems").

import type { ReportEnvelope } from '../../protocol/index.js';

const maxChars = 200;

function count(value: unknown, noun: string): string | undefined {
  return Array.isArray(value) ? `${value.length} ${noun}${value.length === 1 ? '' : 's'}` : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

export function describeReport(envelope: Pick<ReportEnvelope, 'kind' | 'payload'>): string {
  const p = envelope.payload;
  let detail: string | undefined;
  switch (envelope.kind) {
    case 'problem.open':
      detail = `${text(p.localId) ?? '?'}: ${text(p.summary) ?? ''}`;
      break;
    case 'problem.update':
      detail = `${text(p.localId) ?? '?'}: ${text(p.note) ?? ''}`;
      break;
    case 'problem.close':
      detail = text(p.localId);
      break;
    case 'inventory':
    case 'heartbeat':
      detail = count(p.systems, 'system');
      break;
    case 'performance':
      detail = count(p.samples, 'sample');
      break;
    case 'generic':
      detail = text(p.type);
      break;
  }
  const line = detail
    ? `${envelope.kind}${envelope.kind.startsWith('problem.') ? ' ' : ': '}${detail}`
    : envelope.kind;
  return line.length > maxChars ? `${line.slice(0, maxChars - 1)}…` : line;
}
