// `lifeline hub init`: the hub's data directory, keys, certificates and hub.yaml.
export { initHub } from './init.js';
