/**
 * The embedded meta store: the whole tree in one lmdb environment in a directory, for a single
 * meta server (the default; no external process).
 *
 * On-disk layout (format version 1) in `<dir>`:
 *   - `data.mdb` (+ `lock.mdb` while open): lmdb with its default durable commits (never noSync).
 *     - database "nodes": one record per node except the root.
 *         key   = UTF-8 of `<parent path>` + NUL + `<name>`, where the root's children use the empty
 *                 parent: `/a` → "\0a", `/a/b` → "/a\0b", `/a/b/c` → "/a/b\0c".
 *         value = the node's bytes, stored as given (no lmdb encoding or compression).
 *       Paths never contain NUL (meta-path.ts), so the first NUL of a key ends its parent path and
 *       the children of P are exactly the keys in [P + "\0", P + "\x01"): one range scan, in byte
 *       order, that neither meets grandchildren (`/a/b/c` is "/a/b\0c", outside "/a\0"..) nor
 *       siblings sharing a prefix (`/a/bc` is "/a\0bc", a child of /a; the children of `/a/b` start
 *       with "/a/b\0", and NUL sorts below every path character).
 *     - database "info": key "formatVersion" → u32 big-endian 1.
 *   - `meta.pid`: the owning process (pid-lock.ts). Only one process may open the store.
 *
 * Invariants: every node's parent exists (create and set add missing ancestors); each write is one
 * lmdb child transaction, so a multi or a recursive delete commits whole or not at all; a write's
 * promise resolves only after its transaction is committed and flushed to disk. Writes run in call
 * order (lmdb runs transaction callbacks in the order they were submitted).
 */
import { mkdir } from "node:fs/promises";
import { type Database, open, type RootDatabase } from "lmdb";
import { AssertionError } from "../../common/assert.ts";
import { isTalariaError, TalariaError } from "../../common/errors.ts";
import { type Logger, silentLogger } from "../../common/logger.ts";
import {
  ancestorsOf,
  checkNodePath,
  checkPath,
  checkValue,
  joinPath,
  nameOf,
  parentOf,
  ROOT_PATH,
} from "./meta-path.ts";
import type { DeleteOptions, LeaderElection, MetaOp, MetaStore } from "./meta-store.ts";
import { checkMultiOps, withOpIndex } from "./multi-ops.ts";
import { acquirePidLock } from "./pid-lock.ts";
import { SingleCandidateElection } from "./single-candidate-election.ts";

export const EMBEDDED_FORMAT_VERSION = 1;

const FORMAT_VERSION_KEY = Buffer.from("formatVersion");
const EMPTY = Buffer.alloc(0);

type BinaryDb = Database<Buffer, Buffer>;

export interface EmbeddedMetaStoreOptions {
  /** Directory holding the store; created when missing. */
  readonly dir: string;
}

export interface EmbeddedMetaStoreDeps {
  readonly logger?: Logger;
}

/** The record key of a non-root node (see the header). */
export function nodeKey(path: string): Buffer {
  const parent = parentOf(path);
  return Buffer.from(`${parent === ROOT_PATH ? "" : parent}\0${nameOf(path)}`, "utf8");
}

/** The key range holding exactly the children of `path`. */
export function childRange(path: string): { start: Buffer; end: Buffer } {
  const base = path === ROOT_PATH ? "" : path;
  return { start: Buffer.from(`${base}\0`, "utf8"), end: Buffer.from(`${base}\x01`, "utf8") };
}

function fileError(message: string, dir: string, cause: unknown): TalariaError {
  return new TalariaError("ERR_FILE_OPERATION_FAILED", message, { details: { path: dir }, cause });
}

export class EmbeddedMetaStore implements MetaStore {
  readonly kind = "embedded";
  readonly dir: string;
  private readonly root: RootDatabase;
  private readonly nodes: BinaryDb;
  private readonly logger: Logger;
  private readonly releaseLock: () => Promise<void>;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly elections: SingleCandidateElection[] = [];
  private closing: Promise<void> | undefined;

  private constructor(
    dir: string,
    root: RootDatabase,
    nodes: BinaryDb,
    releaseLock: () => Promise<void>,
    logger: Logger,
  ) {
    this.dir = dir;
    this.root = root;
    this.nodes = nodes;
    this.releaseLock = releaseLock;
    this.logger = logger;
  }

  static async open(
    options: EmbeddedMetaStoreOptions,
    deps: EmbeddedMetaStoreDeps = {},
  ): Promise<EmbeddedMetaStore> {
    const dir = options.dir;
    if (typeof dir !== "string" || dir === "") {
      throw new TalariaError("ERR_INVALID_PARAMETERS", "embedded meta store needs a directory");
    }
    try {
      await mkdir(dir, { recursive: true });
    } catch (error) {
      throw fileError(`cannot create meta store directory ${dir}`, dir, error);
    }
    const releaseLock = await acquirePidLock(dir);
    let root: RootDatabase | undefined;
    try {
      try {
        root = open({ path: dir, maxDbs: 4 });
      } catch (error) {
        throw fileError(`cannot open lmdb environment ${dir}`, dir, error);
      }
      const dbOptions = { keyEncoding: "binary", encoding: "binary", compression: false } as const;
      const nodes = root.openDB<Buffer, Buffer>({ name: "nodes", ...dbOptions });
      const info = root.openDB<Buffer, Buffer>({ name: "info", ...dbOptions });
      checkFormatVersion(root, nodes, info, dir);
      const logger = (deps.logger ?? silentLogger).child({ component: "meta-store", dir });
      logger.info("embedded meta store opened");
      return new EmbeddedMetaStore(dir, root, nodes, releaseLock, logger);
    } catch (error) {
      await root?.close();
      await releaseLock();
      throw error;
    }
  }

  // Reads run on lmdb's current read snapshot, one per event turn: each read sees one state.

  async get(path: string): Promise<Buffer | undefined> {
    this.checkOpen("get");
    checkPath(path);
    if (path === ROOT_PATH) return EMPTY;
    const value = this.nodes.get(nodeKey(path));
    // Copy: lmdb may hand out a view of memory it reuses.
    return value === undefined ? undefined : Buffer.from(value);
  }

  async exists(path: string): Promise<boolean> {
    this.checkOpen("exists");
    checkPath(path);
    return this.has(path);
  }

  async children(path: string): Promise<string[]> {
    this.checkOpen("children");
    checkPath(path);
    if (!this.has(path)) throw notFound(path);
    return this.childNames(path);
  }

  async create(path: string, data: Buffer): Promise<void> {
    checkNodePath(path);
    checkValue(path, data);
    await this.write("create", () => this.applyCreate(path, data));
  }

  async set(path: string, data: Buffer): Promise<void> {
    checkNodePath(path);
    checkValue(path, data);
    await this.write("set", () => this.applySet(path, data));
  }

  async delete(path: string, options: DeleteOptions = {}): Promise<void> {
    checkNodePath(path);
    await this.write("delete", () => this.applyDelete(path, options.recursive === true));
  }

  async multi(ops: readonly MetaOp[]): Promise<void> {
    checkMultiOps(ops);
    if (ops.length === 0) return this.checkOpen("multi");
    await this.write("multi", () => {
      ops.forEach((op, opIndex) => {
        try {
          this.applyOp(op);
        } catch (error) {
          throw withOpIndex(error, opIndex);
        }
      });
    });
  }

  election(address: string): LeaderElection {
    this.checkOpen("election");
    const election = new SingleCandidateElection(address);
    this.elections.push(election);
    return election;
  }

  /** Waits for pending writes, closes lmdb and releases the pid lock. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    for (const election of this.elections) election.close();
    await Promise.allSettled([...this.inFlight]);
    try {
      await this.root.close();
    } finally {
      await this.releaseLock();
    }
    this.logger.info("embedded meta store closed");
  }

  private applyOp(op: MetaOp): void {
    switch (op.op) {
      case "create":
        this.applyCreate(op.path, op.data);
        break;
      case "set":
        this.applySet(op.path, op.data);
        break;
      case "delete":
        this.applyDelete(op.path, false);
        break;
    }
  }

  // The apply* methods run inside a write transaction; a throw aborts all of it.

  private applyCreate(path: string, data: Buffer): void {
    if (this.has(path)) throw exists(path);
    this.addMissingAncestors(path);
    this.nodes.putSync(nodeKey(path), data);
  }

  private applySet(path: string, data: Buffer): void {
    this.addMissingAncestors(path);
    this.nodes.putSync(nodeKey(path), data);
  }

  private applyDelete(path: string, recursive: boolean): void {
    if (!this.has(path)) throw notFound(path);
    const children = this.childNames(path);
    if (children.length > 0 && !recursive) {
      throw new TalariaError("ERR_INVALID_STATE", `meta node ${path} has children`, {
        details: { path, children: children.length },
      });
    }
    for (const name of children) this.applyDelete(joinPath(path, name), true);
    this.nodes.removeSync(nodeKey(path));
  }

  private addMissingAncestors(path: string): void {
    for (const ancestor of ancestorsOf(path)) {
      const key = nodeKey(ancestor);
      if (!this.nodes.doesExist(key)) this.nodes.putSync(key, EMPTY);
    }
  }

  private has(path: string): boolean {
    return path === ROOT_PATH || this.nodes.doesExist(nodeKey(path));
  }

  private childNames(path: string): string[] {
    const range = childRange(path);
    const names: string[] = [];
    for (const key of this.nodes.getKeys(range)) {
      names.push(key.subarray(range.start.length).toString("utf8"));
    }
    return names;
  }

  private async write(operation: string, body: () => void): Promise<void> {
    this.checkOpen(operation);
    const committed = this.nodes.childTransaction(body);
    this.inFlight.add(committed);
    try {
      await committed;
      await this.root.flushed;
    } catch (error) {
      if (isTalariaError(error) || error instanceof AssertionError) throw error;
      throw fileError("meta store write failed", this.dir, error);
    } finally {
      this.inFlight.delete(committed);
    }
  }

  private checkOpen(operation: string): void {
    if (this.closing !== undefined) {
      throw new TalariaError("ERR_INVALID_STATE", `${operation} on a closed meta store`);
    }
  }
}

function notFound(path: string): TalariaError {
  return new TalariaError("ERR_OBJECT_NOT_FOUND", `meta node ${path} does not exist`, {
    details: { path },
  });
}

function exists(path: string): TalariaError {
  return new TalariaError("ERR_OBJECT_EXIST", `meta node ${path} already exists`, {
    details: { path },
  });
}

function checkFormatVersion(
  root: RootDatabase,
  nodes: BinaryDb,
  info: BinaryDb,
  dir: string,
): void {
  const stored = info.get(FORMAT_VERSION_KEY);
  if (stored === undefined) {
    for (const _ of nodes.getKeys({ limit: 1 })) {
      throw new TalariaError(
        "ERR_INVALID_DATA",
        `meta store ${dir} has nodes but no format version`,
      );
    }
    const version = Buffer.alloc(4);
    version.writeUInt32BE(EMBEDDED_FORMAT_VERSION);
    root.transactionSync(() => info.putSync(FORMAT_VERSION_KEY, version));
    return;
  }
  const version = stored.length === 4 ? stored.readUInt32BE(0) : -1;
  if (version !== EMBEDDED_FORMAT_VERSION) {
    throw new TalariaError(
      "ERR_INVALID_VERSION",
      `meta store ${dir} has format version ${version}; this build reads ${EMBEDDED_FORMAT_VERSION}`,
      { details: { path: dir, version } },
    );
  }
}
