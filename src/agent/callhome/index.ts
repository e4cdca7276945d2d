// Call home: the durable outbox and its delivery, the problem desk that fills it, retention of
// what was sent, and the end-to-end test of the path.
export { testCallHomeFromDataDir, type CallHomeTestReport, type StepResult } from './callhome-test.js';
export { SentReportPurger } from './outbox-retention.js';
export { Outbox, type OutboxOptions } from './outbox.js';
export { ProblemDesk, type ProblemAccepted, type ProblemInput, type ProblemView } from './problem-desk.js';
export { settlementRecorder } from './settlement-audit.js';
