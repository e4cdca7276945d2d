// Call home: the durable outbox (its store in agent.db) and its delivery, the problem desk that
// fills it, retention of what was sent, and the end-to-end test of the path.
export { testCallHomeFromDataDir, type CallHomeTestReport, type StepResult } from './callhome-test.js';
export { SentReportPurger } from './outbox-retention.js';
export {
  OutboxStore,
  type OutboxCounts,
  type OutboxItem,
  type OutboxState,
  type Transmission,
} from './outbox-store.js';
export { Outbox, type OutboxOptions } from './outbox.js';
export { ProblemDesk, type ProblemAccepted, type ProblemInput, type ProblemView } from './problem-desk.js';
export { ProblemStore, type LocalProblem } from './problem-store.js';
export { settlementRecorder } from './settlement-audit.js';
export { LastAccepted, startCallHome, type CallHome } from './start-callhome.js';
