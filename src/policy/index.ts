// The access policy: pure decisions, no I/O.
export * from './decide.js';
