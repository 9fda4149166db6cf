/**
 * One ZooKeeper session (node-zookeeper-client) shared by the ZooKeeper meta store and its leader
 * elections, so a meta server's writes and its leadership live and die together.
 *
 * Invariants:
 *   - Every request is bounded by `opTimeoutMs` (the client would otherwise queue it for as long as
 *     the server is unreachable); a request that times out fails with ERR_TIMEOUT, outcome unknown.
 *   - The session is lost when the server reports it expired, or when the client has been
 *     disconnected for the whole negotiated session timeout (by then the server has expired it and
 *     deleted its ephemeral nodes, even though the client cannot hear about it). A lost session is
 *     final: requests fail with ERR_INVALID_STATE and the owner must reconnect with a new session.
 *   - ZooKeeper errors become TalariaErrors (zkError below); `details.zkError` keeps the name.
 *   - Paths are store paths: `rootPath` is prepended on the way out, so errors name store paths.
 */
import zookeeper from "node-zookeeper-client";
import { TalariaError } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";

export interface ZooKeeperSessionOptions {
  /** `host:port[,host:port...]`. */
  readonly connectionString: string;
  /** The store's root znode (acts as a chroot). */
  readonly rootPath: string;
  /** Requested session timeout; the server clamps it to [2, 20] × tickTime. */
  readonly sessionTimeoutMs: number;
  /** How long to wait for the first connection before failing with ERR_NETWORK_FAILURE. */
  readonly connectTimeoutMs: number;
  /** Bound on each request. */
  readonly opTimeoutMs: number;
}

/** How long close() waits for the server to acknowledge the session's end. */
const CLOSE_WAIT_MS = 2000;

const codes = zookeeper.Exception;
const EMPTY = Buffer.alloc(0);

/** A ZooKeeper error as a TalariaError with a stable code. */
export function zkError(error: unknown, what: string, path?: string): TalariaError {
  if (error instanceof TalariaError) return error;
  const code = error instanceof zookeeper.Exception ? error.getCode() : undefined;
  const name = error instanceof zookeeper.Exception ? error.getName() : "CLIENT_ERROR";
  const details = path === undefined ? { zkError: name } : { path, zkError: name };
  const make = (talariaCode: TalariaError["code"], message: string, retriable?: boolean) =>
    new TalariaError(talariaCode, `${what}: ${message}`, {
      details,
      cause: error,
      ...(retriable === undefined ? {} : { retriable }),
    });
  switch (code) {
    case codes.NO_NODE:
      return make("ERR_OBJECT_NOT_FOUND", `meta node ${path ?? ""} does not exist`);
    case codes.NODE_EXISTS:
      return make("ERR_OBJECT_EXIST", `meta node ${path ?? ""} already exists`);
    case codes.NOT_EMPTY:
      return make("ERR_INVALID_STATE", `meta node ${path ?? ""} has children`);
    case codes.BAD_VERSION:
      return make("ERR_INVALID_STATE", "the node changed concurrently");
    case codes.CONNECTION_LOSS:
    case codes.OPERATION_TIMEOUT:
      return make("ERR_NETWORK_FAILURE", `connection to ZooKeeper lost (${name})`);
    case codes.SESSION_EXPIRED:
      return make("ERR_INVALID_STATE", "ZooKeeper session expired; reopen the store");
    case codes.BAD_ARGUMENTS:
    case codes.INVALID_ACL:
    case codes.NO_CHILDREN_FOR_EPHEMERALS:
      return make("ERR_INVALID_PARAMETERS", `ZooKeeper refused the request (${name})`);
    case codes.NO_AUTH:
    case codes.AUTH_FAILED:
      return make("ERR_INVALID_STATE", `ZooKeeper refused access (${name})`);
    default:
      // SYSTEM_ERROR, RUNTIME_INCONSISTENCY, MARSHALLING_ERROR, ..., or a client-side Error.
      return make("ERR_NETWORK_FAILURE", `ZooKeeper request failed (${name})`, false);
  }
}

/** Outcome of one ZooKeeper transaction: ok, or the index of the op that failed and why. */
export type ZkTransactionResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly opIndex: number; readonly error: unknown };

export type ZkTxnOp =
  | { readonly kind: "create"; readonly path: string; readonly data: Buffer }
  | { readonly kind: "setData"; readonly path: string; readonly data: Buffer }
  | { readonly kind: "remove"; readonly path: string };

type Callback<T> = (error: Error | zookeeper.Exception | null, result: T) => void;

export class ZooKeeperSession {
  private readonly client: zookeeper.Client;
  private readonly options: ZooKeeperSessionOptions;
  private readonly logger: Logger;
  private state: "connected" | "disconnected" | "lost" | "closed" = "connected";
  private lostReason = "";
  private lostTimer: NodeJS.Timeout | undefined;
  private readonly lostListeners = new Set<(reason: string) => void>();

  private constructor(client: zookeeper.Client, options: ZooKeeperSessionOptions, logger: Logger) {
    this.client = client;
    this.options = options;
    this.logger = logger;
    client.on("disconnected", () => this.onDisconnected());
    client.on("connected", () => this.onConnected());
    client.on("expired", () => this.lose("ZooKeeper session expired"));
    client.on("authenticationFailed", () => this.lose("ZooKeeper authentication failed"));
  }

  static connect(options: ZooKeeperSessionOptions, logger: Logger): Promise<ZooKeeperSession> {
    const client = zookeeper.createClient(options.connectionString, {
      sessionTimeout: options.sessionTimeoutMs,
      spinDelay: 200,
      retries: 0,
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        client.removeListener("connected", onConnected);
        client.close();
        reject(
          new TalariaError(
            "ERR_NETWORK_FAILURE",
            `cannot connect to ZooKeeper at ${options.connectionString} within ${options.connectTimeoutMs} ms`,
            { details: { connectionString: options.connectionString } },
          ),
        );
      }, options.connectTimeoutMs);
      const onConnected = () => {
        clearTimeout(timer);
        const session = new ZooKeeperSession(client, options, logger);
        logger.info(
          { sessionId: session.sessionId, sessionTimeoutMs: client.getSessionTimeout() },
          "ZooKeeper session established",
        );
        resolve(session);
      };
      client.once("connected", onConnected);
      client.connect();
    });
  }

  /** Hex session id, for logs. */
  get sessionId(): string {
    return this.client.getSessionId().toString("hex");
  }

  /** Runs `listener` once if the session is lost (not on close()). */
  onLost(listener: (reason: string) => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  /** Creates the root path and its ancestors when missing. */
  async createRootPath(): Promise<void> {
    const root = this.options.rootPath;
    if (root === "/") return;
    for (let slash = root.indexOf("/", 1); ; slash = root.indexOf("/", slash + 1)) {
      const znode = slash === -1 ? root : root.slice(0, slash);
      try {
        await this.request<string>("create", znode, (done) =>
          this.client.create(znode, EMPTY, zookeeper.CreateMode.PERSISTENT, done),
        );
      } catch (error) {
        if (!(error instanceof TalariaError && error.code === "ERR_OBJECT_EXIST")) throw error;
      }
      if (slash === -1) return;
    }
  }

  getData(path: string): Promise<Buffer | undefined> {
    return this.request<Buffer | undefined>("get", path, (done) =>
      this.client.getData(this.abs(path), (error, data) =>
        error !== null && error instanceof zookeeper.Exception && error.getCode() === codes.NO_NODE
          ? done(null, undefined)
          : done(error, data ?? Buffer.alloc(0)),
      ),
    );
  }

  /** Whether `path` exists; with `watcher`, it runs once when the node is created/deleted/changed. */
  exists(path: string, watcher?: (event: zookeeper.Event) => void): Promise<boolean> {
    return this.request<boolean>("exists", path, (done) => {
      const callback: Callback<zookeeper.Stat> = (error, stat) => done(error, Boolean(stat));
      if (watcher === undefined) this.client.exists(this.abs(path), callback);
      else this.client.exists(this.abs(path), watcher, callback);
    });
  }

  getChildren(path: string, watcher?: (event: zookeeper.Event) => void): Promise<string[]> {
    return this.request<string[]>("children", path, (done) => {
      const callback = (error: Error | zookeeper.Exception | null, children: string[]) =>
        done(error, children);
      if (watcher === undefined) this.client.getChildren(this.abs(path), callback);
      else this.client.getChildren(this.abs(path), watcher, callback);
    });
  }

  /** Creates a node; returns its name (which differs from `path`'s for sequential modes). */
  create(path: string, data: Buffer, mode: number): Promise<string> {
    return this.request<string>("create", path, (done) =>
      this.client.create(this.abs(path), data, mode, (error, created) =>
        done(error, typeof created === "string" ? created.slice(created.lastIndexOf("/") + 1) : ""),
      ),
    );
  }

  setData(path: string, data: Buffer): Promise<void> {
    return this.request<void>("set", path, (done) =>
      this.client.setData(this.abs(path), data, -1, (error) => done(error, undefined)),
    );
  }

  remove(path: string): Promise<void> {
    return this.request<void>("delete", path, (done) =>
      this.client.remove(this.abs(path), -1, (error) => done(error, undefined)),
    );
  }

  /** Commits `ops` atomically. A failing op is reported with its index rather than thrown. */
  transaction(ops: readonly ZkTxnOp[]): Promise<ZkTransactionResult> {
    return this.request<ZkTransactionResult>("multi", undefined, (done) => {
      const txn = this.client.transaction();
      for (const op of ops) {
        switch (op.kind) {
          case "create":
            txn.create(this.abs(op.path), op.data, zookeeper.CreateMode.PERSISTENT);
            break;
          case "setData":
            txn.setData(this.abs(op.path), op.data, -1);
            break;
          case "remove":
            txn.remove(this.abs(op.path), -1);
            break;
        }
      }
      txn.commit((error, results: unknown) => {
        if (error === null) return done(null, { ok: true });
        const opIndex = Array.isArray(results)
          ? results.findIndex((r) => {
              const err = (r as { err?: unknown }).err;
              return typeof err === "number" && err !== 0;
            })
          : -1;
        // No per-op result: the request itself failed (connection loss, ...).
        if (opIndex < 0) return done(error, { ok: true });
        done(null, { ok: false, opIndex, error });
      });
    });
  }

  /** Ends the session (its ephemeral nodes go at once). Idempotent. */
  async close(): Promise<void> {
    const wasConnected = this.state === "connected";
    if (this.state === "closed") return;
    this.state = "closed";
    clearTimeout(this.lostTimer);
    this.lostListeners.clear();
    if (!wasConnected) {
      this.client.close();
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, CLOSE_WAIT_MS);
      this.client.once("disconnected", () => {
        clearTimeout(timer);
        resolve();
      });
      this.client.close();
    });
    this.logger.info({ sessionId: this.sessionId }, "ZooKeeper session closed");
  }

  private abs(path: string): string {
    const root = this.options.rootPath;
    if (path === "/") return root;
    return root === "/" ? path : `${root}${path}`;
  }

  private request<T>(
    what: string,
    path: string | undefined,
    start: (done: (error: Error | zookeeper.Exception | null, result: T) => void) => void,
  ): Promise<T> {
    if (this.state === "closed") {
      return Promise.reject(
        new TalariaError("ERR_INVALID_STATE", `${what} on a closed meta store`),
      );
    }
    if (this.state === "lost") {
      return Promise.reject(
        new TalariaError("ERR_INVALID_STATE", `${what}: ${this.lostReason}; reopen the store`),
      );
    }
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(
          new TalariaError(
            "ERR_TIMEOUT",
            `${what}${path === undefined ? "" : ` ${path}`}: no answer from ZooKeeper in ${this.options.opTimeoutMs} ms`,
            { details: path === undefined ? {} : { path } },
          ),
        );
      }, this.options.opTimeoutMs);
      start((error, result) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error === null) resolve(result);
        else reject(zkError(error, what, path));
      });
    });
  }

  private onDisconnected(): void {
    if (this.state !== "connected") return;
    this.state = "disconnected";
    const timeoutMs = this.client.getSessionTimeout();
    this.logger.warn({ sessionId: this.sessionId, timeoutMs }, "ZooKeeper disconnected");
    this.lostTimer = setTimeout(
      () => this.lose(`disconnected from ZooKeeper for the session timeout (${timeoutMs} ms)`),
      timeoutMs,
    );
  }

  private onConnected(): void {
    if (this.state !== "disconnected") return;
    this.state = "connected";
    clearTimeout(this.lostTimer);
    this.logger.info({ sessionId: this.sessionId }, "ZooKeeper reconnected");
  }

  private lose(reason: string): void {
    if (this.state === "lost" || this.state === "closed") return;
    this.state = "lost";
    this.lostReason = reason;
    clearTimeout(this.lostTimer);
    this.logger.error({ sessionId: this.sessionId, reason }, "ZooKeeper session lost");
    this.client.close();
    const listeners = [...this.lostListeners];
    this.lostListeners.clear();
    for (const listener of listeners) listener(reason);
  }
}
