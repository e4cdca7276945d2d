// The wire vocabulary: no sockets here, only names, formats and codecs.
export * from './wire.js';
export * from './tls-settings.js';
export * from './station-id.js';
export * from './service-name.js';
export * from './ticket.js';
export * from './enrollment-token.js';
export * from './callhome/reports.js';
export * from './callhome/report-payloads.js';
export * from './callhome/manifest.js';
export * from './callhome/attachments.js';
export * from './callhome/upload-channel.js';
export * from './callhome/fixes.js';
export * from './callhome/byte-range.js';
export * from './audit-chain.js';
