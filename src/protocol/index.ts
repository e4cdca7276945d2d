// The wire vocabulary: no sockets here, only names, formats and codecs.
export * from './wire.js';
export * from './tls-settings.js';
export * from './station-id.js';
export * from './service-name.js';
export * from './ticket.js';
export * from './enrollment-token.js';
export * from './reports.js';
export * from './report-payloads.js';
export * from './manifest.js';
export * from './attachments.js';
export * from './upload-channel.js';
export * from './fixes.js';
export * from './byte-range.js';
export * from './audit-chain.js';
