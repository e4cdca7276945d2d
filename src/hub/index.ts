// The vendor hub: station listener, call home, technician API, session broker.
export { Hub } from './hub.js';
export { initHub, joinHub } from './setup/index.js';
export { hubPaths, loadHubConfig } from './config.js';
export { hashPassword } from './technicians/index.js';
export { newTotpSecret, secretFromTotpUri, totpCode, totpUri } from './technicians/index.js';
export { enrollmentTokenId } from './callhome/index.js';
export { loginRequestSchema } from './console/index.js';
export { ensureFixKey } from './fixes/index.js';
export { publishFix } from './fixes/index.js';
export { isSilent, silentAfterMs, SilenceMonitor } from './stations/index.js';
export { startCaRotation, startTicketKeyRotation, readRotationState } from './trust/index.js';
export { hubConfigSchema } from './config.js';
