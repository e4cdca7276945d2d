// Fair shares of what the hub keeps for everyone (hub.yaml `shares:`): per user and per station,
// refused with API_LIMIT_REACHED.
export type { SharesConfig } from './shares-config.js';
export { LimitReached, seconds, shareKeys, type ShareLimit, ShareRefusals } from './shares.js';
