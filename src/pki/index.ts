// PKI: the hub CA, certificates, CSRs and service-ticket signing and verification.
export * from './x509.js';
export * from './ticket-signing.js';
export * from './fix-signing.js';
export * from './trust-check.js';
