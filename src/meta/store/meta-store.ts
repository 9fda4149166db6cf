/**
 * The MetaStore port: a small hierarchical (ZooKeeper-like) store of byte values that the meta
 * server keeps its cluster metadata in (design §3). Two implementations pass one compliance suite
 * (test/meta/store/compliance.ts): the embedded lmdb store (default) and ZooKeeper.
 *
 * Contract shared by both implementations:
 *   - Paths are absolute, `/`-separated, with no empty segment and no trailing slash (meta-path.ts);
 *     anything else is ERR_INVALID_PARAMETERS. `/` is the store's root: it always exists and cannot
 *     be created, set or deleted.
 *   - `create` and `set` create missing ancestors with empty data (like `mkdir -p`); a node is
 *     never left without its parent.
 *   - `create` fails with ERR_OBJECT_EXIST when the node exists; `set` creates or overwrites.
 *   - `delete` fails with ERR_OBJECT_NOT_FOUND when the node is missing and with ERR_INVALID_STATE
 *     when it has children, unless `recursive` is set.
 *   - `children` lists child names sorted by their UTF-8 bytes (so "10" sorts before "9"), and
 *     fails with ERR_OBJECT_NOT_FOUND when the node is missing.
 *   - `multi` applies every op or none, in order; ops see the effects of earlier ops in the batch.
 *     A failing op's error carries `details.opIndex`.
 *   - A write has happened (and, for the embedded store, is on disk) once its promise resolves.
 *     ERR_TIMEOUT and ERR_NETWORK_FAILURE leave the outcome unknown.
 *   - After `close()`, every operation fails with ERR_INVALID_STATE.
 */

export type MetaOp =
  | { readonly op: "create"; readonly path: string; readonly data: Buffer }
  | { readonly op: "set"; readonly path: string; readonly data: Buffer }
  | { readonly op: "delete"; readonly path: string };

export interface DeleteOptions {
  /** Delete the node's whole subtree too. */
  readonly recursive?: boolean;
}

export interface MetaStore {
  /** "embedded" or "zookeeper", for logs and status pages. */
  readonly kind: string;
  /** The node's data, or undefined when it does not exist. A node created without data has ``. */
  get(path: string): Promise<Buffer | undefined>;
  exists(path: string): Promise<boolean>;
  create(path: string, data: Buffer): Promise<void>;
  set(path: string, data: Buffer): Promise<void>;
  delete(path: string, options?: DeleteOptions): Promise<void>;
  children(path: string): Promise<string[]>;
  multi(ops: readonly MetaOp[]): Promise<void>;
  /**
   * A leader election among meta servers sharing this store; `address` names this candidate.
   * `path` scopes it (one election per cluster when clusters share a ZooKeeper ensemble);
   * ELECTION_PATH by default.
   */
  election(address: string, path?: string): LeaderElection;
  /** Idempotent. Resigns any election created from this store. */
  close(): Promise<void>;
}

/**
 * Leader election among meta servers. One candidate per meta server process; the leader's address
 * is what `leader()` reports to every candidate.
 */
export interface LeaderElection {
  readonly address: string;
  /**
   * Resolves once this candidate is the leader. Rejects with ERR_INVALID_STATE when the candidate
   * resigns or its session is lost first. Calling it again while campaigning returns the same promise.
   */
  campaign(): Promise<void>;
  /** Whether this candidate currently holds the leadership. */
  isLeader(): boolean;
  /** The current leader's address, or undefined when nobody leads. */
  leader(): Promise<string | undefined>;
  /**
   * `callback` runs each time this candidate loses a leadership it held without resigning
   * (session expired or lost, its election node deleted). A meta server that loses leadership
   * must stop acting as leader at once.
   */
  onLost(callback: (reason: string) => void): void;
  /** Leaves the election (or the leadership). Idempotent. */
  resign(): Promise<void>;
}

/** Named bounds of the meta store (docs/limits.md). */
export const metaStoreLimits = {
  /** Longest path in UTF-8 bytes; well under lmdb's 1978-byte key limit. */
  metaPathBytesMax: 1024,
  /** Largest node value; ZooKeeper's default jute.maxbuffer is 1 MiB for a whole request. */
  metaValueBytesMax: 512 * 1024,
  /** Most ops in one multi. */
  metaMultiOpsMax: 256,
  /** Most value bytes in one multi (ZooKeeper sends a multi as one request). */
  metaMultiBytesMax: 900 * 1024,
} as const;
