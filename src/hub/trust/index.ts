// The hub's trust material: the CA's revocation list, and rotation of the CA and the
// ticket key.
export { CaCrl, recordIssuedStationCert, registerCrlRoute, revokedStationSerials } from './crl.js';
export {
  HubTrust,
  readRotationState,
  rotationPaths,
  serverHosts,
  startCaRotation,
  startTicketKeyRotation,
  type HubTrustMaterial,
  type TrustBundle,
} from './trust-rotation.js';
export { crlUrlFor } from './crl.js';
