// Retention: which call-home data has outlived its period, and the scheduler that removes it.
export { retentionConfigSchema, type RetentionConfig } from './retention-config.js';
export {
  RetentionScheduler,
  formatPeriod,
  problemDataPurger,
  retentionRules,
  retentionRunSummarySchema,
  runRetention,
  startRetention,
  type RetentionRule,
  type RetentionRunSummary,
} from './retention.js';
