/**
 * Turning a MetaStore `multi` into one ZooKeeper transaction.
 *
 * ZooKeeper's multi has create (fails if present), setData (fails if absent) and remove, but not
 * "create or overwrite" and not "create with parents". So the plan reads the tree first and
 * simulates the batch in order: a `set` becomes setData when the node exists (in ZooKeeper or
 * earlier in the batch) and create otherwise; missing ancestors get creates of their own. Errors
 * the simulation can see (create of an existing node, delete of a missing one) fail the multi
 * before anything is sent. Whether a deleted node has children is left to ZooKeeper (NOT_EMPTY).
 *
 * The reads and the commit are not atomic together: if another client changes the tree in between,
 * the commit fails as a whole (NODE_EXISTS / NO_NODE) and the store plans again (a bounded number
 * of times), so the batch still applies all or nothing against the state it was planned on.
 */
import { TalariaError } from "../../common/errors.ts";
import { ancestorsOf, ROOT_PATH } from "./meta-path.ts";
import type { MetaOp } from "./meta-store.ts";
import { withOpIndex } from "./multi-ops.ts";
import type { ZkTxnOp } from "./zk-session.ts";

const EMPTY = Buffer.alloc(0);

export interface ZkMultiPlan {
  /** Transaction ops on store-relative paths. */
  readonly txn: ZkTxnOp[];
  /** For each transaction op, the index of the MetaOp it came from. */
  readonly owner: number[];
}

/** `exists` answers from ZooKeeper for store-relative paths. */
export async function planMulti(
  ops: readonly MetaOp[],
  exists: (path: string) => Promise<boolean>,
): Promise<ZkMultiPlan> {
  const planned = new Map<string, boolean>();
  const stored = new Map<string, boolean>();
  const txn: ZkTxnOp[] = [];
  const owner: number[] = [];

  const existsNow = async (path: string): Promise<boolean> => {
    if (path === ROOT_PATH) return true;
    const mine = planned.get(path);
    if (mine !== undefined) return mine;
    // A node deleted earlier in the batch had no children, so nothing under it exists.
    if (ancestorsOf(path).some((ancestor) => planned.get(ancestor) === false)) return false;
    let there = stored.get(path);
    if (there === undefined) {
      there = await exists(path);
      stored.set(path, there);
    }
    return there;
  };
  const add = (op: ZkTxnOp, opIndex: number) => {
    txn.push(op);
    owner.push(opIndex);
    planned.set(op.path, op.kind !== "remove");
  };

  for (const [opIndex, op] of ops.entries()) {
    const present = await existsNow(op.path);
    switch (op.op) {
      case "create":
      case "set":
        if (present && op.op === "create") {
          throw withOpIndex(
            new TalariaError("ERR_OBJECT_EXIST", `meta node ${op.path} already exists`, {
              details: { path: op.path },
            }),
            opIndex,
          );
        }
        if (present) {
          add({ kind: "setData", path: op.path, data: op.data }, opIndex);
          break;
        }
        for (const ancestor of ancestorsOf(op.path)) {
          if (!(await existsNow(ancestor)))
            add({ kind: "create", path: ancestor, data: EMPTY }, opIndex);
        }
        add({ kind: "create", path: op.path, data: op.data }, opIndex);
        break;
      case "delete":
        if (!present) {
          throw withOpIndex(
            new TalariaError("ERR_OBJECT_NOT_FOUND", `meta node ${op.path} does not exist`, {
              details: { path: op.path },
            }),
            opIndex,
          );
        }
        add({ kind: "remove", path: op.path }, opIndex);
        break;
    }
  }
  return { txn, owner };
}
