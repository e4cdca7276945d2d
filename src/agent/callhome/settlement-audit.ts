// What the outbox writes to the audit log when deliveries settle.

import type { AuditLog } from '../audit/index.js';
import type { OutboxOptions } from './outbox.js';

/**
 * The outbox's record of what each delivery settled: one entry per delivery and outcome (a batch
 * holds up to 50 reports) naming every report, written in the settlement's commit, so no report
 * is marked sent without its entry, nor the reverse.
 */
export function settlementRecorder(audit: AuditLog): NonNullable<OutboxOptions['recordSettled']> {
  return async (trx, settled) => {
    const published: Array<() => void> = [];
    for (const outcome of ['sent', 'rejected'] as const) {
      const reports = settled[outcome];
      if (reports.length > 0)
        published.push(
          await audit.recordIn(trx, 'agent', `callhome.${outcome}`, { count: reports.length, reports }),
        );
    }
    return () => {
      for (const publish of published) publish();
    };
  };
}
