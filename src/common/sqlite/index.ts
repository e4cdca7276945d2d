// SQLite plumbing shared by the agent's and the hub's stores: open, durable commits off the event
// loop, prepared statements, and a driver that survives a full disk.
export { openSqlite, type SqliteOpenOptions } from './open.js';
export { transactionFlushedAfter } from './wal-flush.js';
