// The vendor hub: station listener, call home, technician API, session broker.
export { Hub } from './hub.js';
export { initHub } from './trust/init.js';
export { hubPaths, loadHubConfig } from './config.js';
export { hashPassword } from './technicians/passwords.js';
export { newTotpSecret, secretFromTotpUri, totpCode, totpUri } from './technicians/totp.js';
export { enrollmentTokenId } from './callhome/callhome-api.js';
export { loginRequestSchema } from './console/technician-api.js';
export { ensureFixKey } from './fixes/fix-key.js';
export { publishFix } from './fixes/fix-publish.js';
export { isSilent, silentAfterMs, SilenceMonitor } from './stations/station-silence.js';
export { startCaRotation, startTicketKeyRotation, readRotationState } from './trust/trust-rotation.js';
