/**
 * A meta server for replica-server tests whose duplication side the test scripts: it answers
 * beacons (the beaconing node is the only replica and the primary of every partition of `apps`)
 * and duplication syncs with whatever `dups` holds, and keeps every sync request.
 */
import { silentLogger } from "../../src/common/logger.ts";
import {
  type DuplicationConfirm,
  DuplicationMethod,
  type DuplicationSyncEntry,
  type DuplicationSyncRequest,
} from "../../src/protocol/duplication-messages.ts";
import { type AppInfo, type Gpid, gpidKey, MetaMethod } from "../../src/protocol/index.ts";
import { RpcServer } from "../../src/rpc/index.ts";

export class ScriptedMeta {
  readonly server = new RpcServer({ name: "fake meta" }, { log: silentLogger });
  readonly syncs: DuplicationSyncRequest[] = [];
  /** appId → the duplications each sync reply lists for it. */
  dups = new Map<number, DuplicationSyncEntry[]>();
  /** Raise it for every start of the replica server, as a real meta server would reassign it. */
  ballot = 1;

  /** The tables beacon replies list; a test may replace one (its envs) between beacons. */
  apps: AppInfo[];

  constructor(apps: readonly AppInfo[]) {
    this.apps = [...apps];
    this.server.handle(MetaMethod.BEACON, async (payload) => {
      const node = (payload as { node: string }).node;
      const apps = this.apps;
      return {
        leaseMs: 60_000,
        apps,
        learnerProposals: [],
        configs: apps.flatMap((app) =>
          Array.from({ length: app.partitionCount }, (_, partitionIndex) => ({
            gpid: { appId: app.appId, partitionIndex },
            ballot: this.ballot,
            primary: node,
            secondaries: [],
            maxReplicaCount: 1,
            lastCommittedDecree: 0,
          })),
        ),
      };
    });
    this.server.handle(DuplicationMethod.SYNC, async (payload) => {
      this.syncs.push(payload as DuplicationSyncRequest);
      return {
        apps: [...this.dups].map(([appId, duplications]) => ({
          appId,
          partitionCount: this.apps.find((app) => app.appId === appId)?.partitionCount ?? 1,
          duplications,
        })),
        nextSyncDelayMs: 100,
      };
    });
  }

  /** Replaces table `appId`'s envs in the next beacon replies. */
  setEnvs(appId: number, envs: Record<string, string>): void {
    this.apps = this.apps.map((app) => (app.appId === appId ? { ...app, envs } : app));
  }

  /** The latest confirm of `gpid` for `dupid`, from the latest sync that has one. */
  confirm(gpid: Gpid, dupid: number): DuplicationConfirm | undefined {
    for (let i = this.syncs.length - 1; i >= 0; i--) {
      const partition = this.syncs[i]?.partitions.find((p) => gpidKey(p.gpid) === gpidKey(gpid));
      const found = partition?.confirms.find((c) => c.dupid === dupid);
      if (found !== undefined) return found;
    }
    return undefined;
  }
}
