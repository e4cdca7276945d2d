// The wire vocabulary: no sockets here, only names, formats and codecs.
export * from './wire.js';
export * from './tls-settings.js';
export * from './station-id.js';
export * from './service-name.js';
export * from './ticket.js';
export * from './enrollment-token.js';
export * from './callhome/index.js';
export * from './audit-chain.js';
export * from './goaway-hint.js';
