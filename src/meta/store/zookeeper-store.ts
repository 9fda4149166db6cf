/**
 * The ZooKeeper meta store: the MetaStore port on a ZooKeeper ensemble, for several meta servers
 * (one leader, elected through the same session; zookeeper-election.ts).
 *
 * Layout: store path P is the znode `<rootPath>P` (the root path acts as a chroot and is created on
 * open). Values are the znodes' data, as given. Following Pegasus (duplication notes §2.6), the
 * meta server keeps `<cluster_root>/apps/<app_id>[/duplication/<dupid>[/<pidx>]]` below it, and
 * the election uses `<rootPath>/leader_election`.
 *
 * Consistency with the embedded store: create and set add missing ancestors (on NO_NODE, then
 * retry); set is setData falling back to create; recursive delete removes the subtree bottom-up in
 * transactions of at most metaMultiOpsMax ops, so it is atomic only for subtrees that fit in one
 * (the embedded store's is always atomic); multi is planned into one transaction (zk-multi-plan.ts).
 * Races with other clients are retried at most RACE_RETRIES times.
 */
import zookeeper from "node-zookeeper-client";
import { isTalariaError, TalariaError } from "../../common/errors.ts";
import { type Logger, silentLogger } from "../../common/logger.ts";
import {
  ancestorsOf,
  checkNodePath,
  checkPath,
  checkValue,
  compareNames,
  joinPath,
} from "./meta-path.ts";
import {
  type DeleteOptions,
  type LeaderElection,
  type MetaOp,
  type MetaStore,
  metaStoreLimits,
} from "./meta-store.ts";
import { checkMultiOps, withOpIndex } from "./multi-ops.ts";
import { planMulti } from "./zk-multi-plan.ts";
import { type ZkTxnOp, ZooKeeperSession, zkError } from "./zk-session.ts";
import { ZooKeeperLeaderElection } from "./zookeeper-election.ts";

export interface ZooKeeperMetaStoreOptions {
  /** `host:port[,host:port...]`, e.g. `127.0.0.1:2181`. */
  readonly connectionString: string;
  /** Where the store lives in ZooKeeper, e.g. `/talaria`; created when missing (`/`: no chroot). */
  readonly rootPath: string;
  /** Requested session timeout (Pegasus `zookeeper_timeout_ms`, 30 s). */
  readonly sessionTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly opTimeoutMs?: number;
}

export const defaultZooKeeperTimeouts = {
  sessionTimeoutMs: 30_000,
  connectTimeoutMs: 10_000,
  opTimeoutMs: 10_000,
} as const;

/** Bound on re-planning or re-trying an operation that raced with another client. */
const RACE_RETRIES = 5;

const EMPTY = Buffer.alloc(0);

/** Store path of the leader election's candidates (`<rootPath>/leader_election` in ZooKeeper). */
export const ELECTION_PATH = "/leader_election";

export interface ZooKeeperMetaStoreDeps {
  readonly logger?: Logger;
}

function checkTimeout(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0 || value > 600_000) {
    throw new TalariaError("ERR_INVALID_PARAMETERS", `${name} ${value} is not in (0, 600000] ms`, {
      details: { [name]: value },
    });
  }
  return value;
}

function isCode(error: unknown, code: TalariaError["code"]): boolean {
  return isTalariaError(error, code);
}

export class ZooKeeperMetaStore implements MetaStore {
  readonly kind = "zookeeper";
  readonly rootPath: string;
  private readonly session: ZooKeeperSession;
  private readonly logger: Logger;
  private readonly elections: ZooKeeperLeaderElection[] = [];
  private closing: Promise<void> | undefined;

  private constructor(rootPath: string, session: ZooKeeperSession, logger: Logger) {
    this.rootPath = rootPath;
    this.session = session;
    this.logger = logger;
  }

  static async open(
    options: ZooKeeperMetaStoreOptions,
    deps: ZooKeeperMetaStoreDeps = {},
  ): Promise<ZooKeeperMetaStore> {
    if (typeof options.connectionString !== "string" || options.connectionString === "") {
      throw new TalariaError("ERR_INVALID_PARAMETERS", "ZooKeeper connection string is empty");
    }
    checkPath(options.rootPath);
    const sessionOptions = {
      connectionString: options.connectionString,
      rootPath: options.rootPath,
      sessionTimeoutMs: checkTimeout(
        "sessionTimeoutMs",
        options.sessionTimeoutMs ?? defaultZooKeeperTimeouts.sessionTimeoutMs,
      ),
      connectTimeoutMs: checkTimeout(
        "connectTimeoutMs",
        options.connectTimeoutMs ?? defaultZooKeeperTimeouts.connectTimeoutMs,
      ),
      opTimeoutMs: checkTimeout(
        "opTimeoutMs",
        options.opTimeoutMs ?? defaultZooKeeperTimeouts.opTimeoutMs,
      ),
    };
    const logger = (deps.logger ?? silentLogger).child({
      component: "meta-store",
      zk: options.connectionString,
      rootPath: options.rootPath,
    });
    const session = await ZooKeeperSession.connect(sessionOptions, logger);
    try {
      await session.createRootPath();
    } catch (error) {
      await session.close();
      throw error;
    }
    return new ZooKeeperMetaStore(options.rootPath, session, logger);
  }

  /** Hex ZooKeeper session id, for logs. */
  get sessionId(): string {
    return this.session.sessionId;
  }

  async get(path: string): Promise<Buffer | undefined> {
    checkPath(path);
    return this.session.getData(path);
  }

  async exists(path: string): Promise<boolean> {
    checkPath(path);
    return this.session.exists(path);
  }

  async children(path: string): Promise<string[]> {
    checkPath(path);
    return (await this.session.getChildren(path)).sort(compareNames);
  }

  async create(path: string, data: Buffer): Promise<void> {
    checkNodePath(path);
    checkValue(path, data);
    await this.createWithAncestors(path, data);
  }

  async set(path: string, data: Buffer): Promise<void> {
    checkNodePath(path);
    checkValue(path, data);
    for (let attempt = 0; ; attempt++) {
      try {
        await this.session.setData(path, data);
        return;
      } catch (error) {
        if (!isCode(error, "ERR_OBJECT_NOT_FOUND")) throw error;
      }
      try {
        await this.createWithAncestors(path, data);
        return;
      } catch (error) {
        // Created by someone else since the setData: overwrite it.
        if (!isCode(error, "ERR_OBJECT_EXIST") || attempt >= RACE_RETRIES) throw error;
      }
    }
  }

  async delete(path: string, options: DeleteOptions = {}): Promise<void> {
    checkNodePath(path);
    if (options.recursive !== true) {
      await this.session.remove(path);
      return;
    }
    for (let attempt = 0; ; attempt++) {
      const raced = await this.removeAll(await this.subtreeBottomUp(path));
      if (raced === undefined) return;
      if (attempt >= RACE_RETRIES) throw raced;
    }
  }

  async multi(ops: readonly MetaOp[]): Promise<void> {
    checkMultiOps(ops);
    for (let attempt = 0; ; attempt++) {
      const plan = await planMulti(ops, (path) => this.session.exists(path));
      if (plan.txn.length === 0) return;
      const result = await this.session.transaction(plan.txn);
      if (result.ok) return;
      const failed = plan.txn[result.opIndex];
      const opIndex = plan.owner[result.opIndex] ?? -1;
      const error = withOpIndex(zkError(result.error, "multi", failed?.path), opIndex);
      // The plan saw a different tree than the commit did: someone else wrote in between.
      const raced = isCode(error, "ERR_OBJECT_EXIST") || isCode(error, "ERR_OBJECT_NOT_FOUND");
      if (!raced || attempt >= RACE_RETRIES) throw error;
      this.logger.debug({ opIndex, attempt }, "multi raced with another client; planning again");
    }
  }

  election(address: string, path: string = ELECTION_PATH): LeaderElection {
    if (this.closing !== undefined) {
      throw new TalariaError("ERR_INVALID_STATE", "election on a closed meta store");
    }
    const election = new ZooKeeperLeaderElection(
      { address, electionPath: path },
      { session: this.session, logger: this.logger },
    );
    this.elections.push(election);
    return election;
  }

  /** Ends the session: this store's election nodes disappear at once. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const election of this.elections) election.shutdown();
      await this.session.close();
    })();
    return this.closing;
  }

  /**
   * Removes `nodes` (children before parents) in transactions of at most metaMultiOpsMax ops.
   * Returns the error when another client changed the subtree meanwhile (a node added: NOT_EMPTY,
   * or removed: NO_NODE), so the caller can list it again.
   */
  private async removeAll(nodes: readonly string[]): Promise<TalariaError | undefined> {
    for (let start = 0; start < nodes.length; start += metaStoreLimits.metaMultiOpsMax) {
      const chunk = nodes.slice(start, start + metaStoreLimits.metaMultiOpsMax);
      const result = await this.session.transaction(
        chunk.map((path): ZkTxnOp => ({ kind: "remove", path })),
      );
      if (result.ok) continue;
      const error = zkError(result.error, "delete", chunk[result.opIndex]);
      if (isCode(error, "ERR_INVALID_STATE") || isCode(error, "ERR_OBJECT_NOT_FOUND")) return error;
      throw error;
    }
    return undefined;
  }

  private async createWithAncestors(path: string, data: Buffer): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.session.create(path, data, zookeeper.CreateMode.PERSISTENT);
        return;
      } catch (error) {
        // NO_NODE here means a missing parent.
        if (!isCode(error, "ERR_OBJECT_NOT_FOUND") || attempt >= RACE_RETRIES) throw error;
      }
      for (const ancestor of ancestorsOf(path)) await createIfAbsent(this.session, ancestor);
    }
  }

  /** `path` and all its descendants, children before parents. */
  private async subtreeBottomUp(path: string): Promise<string[]> {
    const out: string[] = [];
    const visit = async (node: string): Promise<void> => {
      let names: string[];
      try {
        names = await this.session.getChildren(node);
      } catch (error) {
        // Removed by someone else meanwhile: nothing left to delete there (except for the top).
        if (isCode(error, "ERR_OBJECT_NOT_FOUND") && node !== path) return;
        throw error;
      }
      for (const name of names) await visit(joinPath(node, name));
      out.push(node);
    };
    await visit(path);
    return out;
  }
}

async function createIfAbsent(session: ZooKeeperSession, path: string): Promise<void> {
  try {
    await session.create(path, EMPTY, zookeeper.CreateMode.PERSISTENT);
  } catch (error) {
    if (!isCode(error, "ERR_OBJECT_EXIST")) throw error;
  }
}
