// The call-home vocabulary: report envelopes and payloads, manifests, attachments and their upload
// channel frames, data requests, fixes and byte ranges.
export * from './reports.js';
export * from './report-payloads.js';
export * from './manifest.js';
export * from './attachments.js';
export * from './upload-channel.js';
export * from './data-requests.js';
export * from './fixes.js';
export * from './byte-range.js';
