// Network listeners: connection guards, request-body progress, source addresses, host:port, and
// the HTTP API conventions.
export { bodyTooSlowError, installBodyProgress } from './body-progress.js';
export {
  ConnectionGuard,
  guardCloseReasons,
  type ConnectionGuardStats,
  type ConnectionLimits,
} from './connection-guard.js';
export { formatHostPort, isLoopbackHost, parseHostPort, type HostPort } from './host-port.js';
export { installApiConventions } from './http-api.js';
export { listenError } from './listen-error.js';
export { canonicalAddress, sourceOf } from './source-address.js';
