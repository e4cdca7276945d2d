// The station's identity: enrollment, its key and certificate on disk, renewal, and the hub trust
// bundle it pins.
export { CertificateRenewal, type CertificateStatus, type RenewAnswer } from './cert-renewal.js';
export { enroll } from './enroll.js';
export { startIdentity, type Identity } from './start-identity.js';
export { StationCredentials } from './station-credentials.js';
export { TrustBundlePinner } from './trust-bundle.js';
