// The agent's hash-chained audit log: writing entries, checkpoints the hub keeps, verification and
// export.
export { AuditCheckpointer, startCheckpoints } from './audit-checkpoint.js';
export { AuditLog } from './audit-log.js';
export { verifyAuditLog, type AuditReport } from './audit-report.js';
export { formatAuditJsonLines, verifyAuditChain } from './audit-verify.js';
