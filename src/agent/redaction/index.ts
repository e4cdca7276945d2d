// Redaction of call-home payloads: host names, addresses and user names become stable pseudonyms.
export { redactConfigSchema } from './redact-config.js';
export { payloadRedaction } from './redaction-setup.js';
