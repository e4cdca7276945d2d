// The vendor hub: station listener, call home, technician API, session broker.
export { Hub } from './hub.js';
export { initHub } from './init.js';
export { hubPaths, loadHubConfig } from './config.js';
export { hashPassword } from './passwords.js';
export { newTotpSecret, secretFromTotpUri, totpCode, totpUri } from './totp.js';
export { enrollmentTokenId } from './callhome-api.js';
export { loginRequestSchema } from './technician-api.js';
export { ensureFixKey } from './fix-key.js';
export { publishFix } from './fix-publish.js';
export { isSilent, silentAfterMs, SilenceMonitor } from './station-silence.js';
export { startCaRotation, startTicketKeyRotation, readRotationState } from './trust-rotation.js';
