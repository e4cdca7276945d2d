// Several hub nodes over one PostgreSQL database: the cluster key and the files sealed with it,
// each node's identity, and its heartbeat.
export {
  clusterKeyCheck,
  keyOpensCluster,
  newClusterKey,
  readClusterKey,
  sealClusterFile,
  unsealClusterFile,
  writeClusterKey,
  type ClusterKey,
} from './cluster-key.js';
export { NodeHeartbeat, nodeBeatIntervalMs, nodeLeaseMs } from './node-heartbeat.js';
export { loadNodeIdentity, newNodeIdentity, writeNodeIdentity, type NodeIdentity } from './node-identity.js';
export {
  clusterKeyPath,
  sharedClusterFileNames,
  sharedClusterFiles,
  writeSharedClusterFiles,
} from './shared-files.js';
export { ensureNodeCert, nodeCertPaths } from './node-cert.js';
export { PeerLinks, type PeerCredentials, type StationSessionRequest } from './peer-links.js';
export { PeerSessionServer } from './peer-session-server.js';
export { stationReach } from './station-reach.js';
export {
  ClusterTrustMirror,
  localFilesVersion,
  openClusterTrustMirror,
  writeLocalFilesVersion,
} from './trust-mirror.js';
