/**
 * A duplication as a meta server's sync reply lists it (DuplicationSyncEntry), for tests that
 * script the reply: a DS_LOG, FAIL_SLOW duplication of table "t" to cluster "beta" with one
 * replica per partition, unless `fields` says otherwise.
 */
import {
  DuplicationStatus,
  type DuplicationSyncEntry,
} from "../../src/protocol/duplication-messages.ts";

export function syncEntry(
  dupid: number,
  fields: Partial<DuplicationSyncEntry> = {},
): DuplicationSyncEntry {
  return {
    dupid,
    status: DuplicationStatus.DS_LOG,
    failMode: "FAIL_SLOW",
    remoteClusterName: "beta",
    remoteAppName: "t",
    remoteReplicaCount: 1,
    createdAtMs: 1,
    remoteMetas: [],
    confirmedDecrees: [],
    ...fields,
  };
}
