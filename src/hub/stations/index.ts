// The station port and the tunnels on it: admission, the registry of connected stations, their
// journal, silence and revocation.
export { admissionConfigSchema } from './admission-config.js';
export { TunnelAdmission } from './admission.js';
export { RevocationWatch } from './revocation-watch.js';
export { StationListener, peerStationId, type StationListenerCredentials } from './station-listener.js';
export { startStationPort, type StationPort } from './station-port.js';
export { SilenceMonitor, isSilent, silentAfterMs } from './station-silence.js';
export { TunnelJournal } from './tunnel-journal.js';
export { TunnelRegistry } from './tunnel-registry.js';
export { callingStation, type ExpiredCertAllowance } from './calling-station.js';
