// The access policy: pure decisions, no I/O.
export * from './acl.js';
export * from './decide.js';
