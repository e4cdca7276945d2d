// `lifeline hub init` and `hub join`: a node's data directory, keys, certificates and hub.yaml.
export { initHub, type HubInitOptions } from './init.js';
export { joinHub, type HubJoinOptions } from './join.js';
