/**
 * The meta store in the simulator: the committed nodes of the metadata tree in memory. It
 * outlives meta server crashes (it stands for ZooKeeper or the replicated embedded store) and is
 * what a restarted meta server restores from. Writes follow the meta core's contract: a `set`
 * creates or overwrites one node, a `deleteTree` removes a node and its subtree (missing is fine),
 * and one action's writes land together.
 */
import type { MetaRecord, MetaStoreWrite } from "../meta/core/index.ts";

export class SimMetaStore {
  private readonly records = new Map<string, Uint8Array>();

  apply(writes: readonly MetaStoreWrite[]): void {
    for (const write of writes) {
      if (write.op === "set") {
        this.records.set(write.path, new Uint8Array(write.data));
        continue;
      }
      for (const path of [...this.records.keys()])
        if (path === write.path || path.startsWith(`${write.path}/`)) this.records.delete(path);
    }
  }

  /** Every node, as the runtime reads them back at startup. */
  list(): MetaRecord[] {
    return [...this.records]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([path, value]) => ({ path, value }));
  }
}
