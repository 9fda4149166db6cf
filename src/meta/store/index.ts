/**
 * The meta store subsystem's public face: the MetaStore and LeaderElection ports, their two
 * implementations (embedded lmdb, the default; ZooKeeper for several meta servers) and their bounds.
 */
export {
  EMBEDDED_FORMAT_VERSION,
  EmbeddedMetaStore,
  type EmbeddedMetaStoreDeps,
  type EmbeddedMetaStoreOptions,
} from "./embedded-store.ts";
export { checkNodePath, checkPath, compareNames, joinPath, ROOT_PATH } from "./meta-path.ts";
export {
  type DeleteOptions,
  type LeaderElection,
  type MetaOp,
  type MetaStore,
  metaStoreLimits,
} from "./meta-store.ts";
export { type MetaStoreOptions, openMetaStore } from "./open-meta-store.ts";
export { PID_FILE } from "./pid-lock.ts";
export {
  defaultZooKeeperTimeouts,
  ELECTION_PATH,
  ZooKeeperMetaStore,
  type ZooKeeperMetaStoreDeps,
  type ZooKeeperMetaStoreOptions,
} from "./zookeeper-store.ts";
