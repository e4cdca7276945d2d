// The link to the hub: dialing endpoints directly or through the customer's proxy, the tunnel, and
// the call-home HTTP/2 client.
export { CallHomeClient, type HubAnswer } from './callhome-client.js';
export {
  HubDialer,
  hubDialerFromDataDir,
  type EndpointStatus,
  type ProxyStatus,
  type TlsCredentials,
} from './hub-dialer.js';
export {
  describeProxy,
  proxyConfigSchema,
  proxyFor,
  resolveProxy,
  type ProxyConfig,
  type ProxySettings,
} from './proxy-config.js';
export { connectThroughProxy } from './proxy-connect.js';
export { startLink, type Link } from './start-link.js';
export {
  isLinkFailure,
  isUnknownHubIssuer,
  linkCodeOf,
  toLinkError,
  type LinkErrorCode,
} from './link-errors.js';
export { TunnelClient, type TunnelClientOptions, type TunnelStatus } from './tunnel-client.js';
