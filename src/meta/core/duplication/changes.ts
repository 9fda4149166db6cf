/**
 * What every durable duplication change is made of: the core's context, record and progress
 * writes (layout.ts) and the persist action through PendingChanges (two-phase: planned against
 * committed state, applied only in `commit`). Shared by the duplication core and the full sync.
 */
import { isTalariaError, type TalariaError } from "../../../common/errors.ts";
import type { Logger } from "../../../common/logger.ts";
import type { MetaAction, MetaResult, PersistKind, RequestId } from "../events.ts";
import type { MetaStoreWrite } from "../layout.ts";
import type { PendingChanges } from "../pending-changes.ts";
import type { ClusterState } from "../state.ts";
import type { Duplication, RecordChange } from "./duplication.ts";
import { duplicationPath, encodeDuplication, encodeProgress, progressPath } from "./layout.ts";
import type { DuplicationOptions } from "./options.ts";
import type { DuplicationRegistry } from "./registry.ts";

export interface DuplicationCoreContext {
  readonly state: ClusterState;
  readonly registry: DuplicationRegistry;
  readonly pending: PendingChanges;
  readonly options: DuplicationOptions;
  readonly clusterRoot: string;
  readonly appNameLengthMax: number;
  readonly replicaCountMax: number;
  readonly log: Logger;
  /** The core's current time (from the event being handled). */
  readonly nowMs: () => number;
}

export function reply(requestId: RequestId, result: MetaResult): MetaAction {
  return { type: "reply", requestId, result };
}

/** The reply to a refused request; anything but a TalariaError is a bug and rethrown. */
export function failure(requestId: RequestId, error: unknown): MetaAction {
  if (!isTalariaError(error)) throw error;
  return reply(requestId, { ok: false, error });
}

export interface ChangeHandlers {
  commit: () => MetaAction[];
  abandon: (error: TalariaError) => MetaAction[];
}

export class DuplicationChanges {
  constructor(private readonly context: DuplicationCoreContext) {}

  /** The duplication's record after `change`. */
  recordWrite(dup: Duplication, change: RecordChange = {}): MetaStoreWrite {
    return {
      op: "set",
      path: duplicationPath(this.context.clusterRoot, dup.appId, dup.dupid),
      data: encodeDuplication(dup, change),
    };
  }

  /** Every partition's confirmed decree (indexed by partition). */
  progressWrites(dup: Duplication, decrees: readonly number[]): MetaStoreWrite[] {
    return decrees.map(
      (decree, index): MetaStoreWrite => ({
        op: "set",
        path: progressPath(this.context.clusterRoot, dup.appId, dup.dupid, index),
        data: encodeProgress(decree),
      }),
    );
  }

  /**
   * Persists `change` of the duplication's record as its one alteration in flight (`altering`);
   * once persisted it is applied and `committed` runs with the status it had before. Either way
   * the alteration is over when a handler runs.
   */
  alterRecord(
    kind: PersistKind,
    dup: Duplication,
    change: RecordChange,
    handlers: {
      committed: (from: Duplication["status"]) => MetaAction[];
      abandoned: (error: TalariaError) => MetaAction[];
    },
  ): MetaAction {
    dup.altering = { kind: "modify" };
    return this.persist(kind, dup.changeKey, [this.recordWrite(dup, change)], {
      commit: () => {
        dup.altering = undefined;
        const from = dup.status;
        dup.apply(change);
        return handlers.committed(from);
      },
      abandon: (error) => {
        dup.altering = undefined;
        return handlers.abandoned(error);
      },
    });
  }

  persist(
    kind: PersistKind,
    key: string,
    writes: readonly MetaStoreWrite[],
    handlers: ChangeHandlers,
  ): MetaAction {
    return this.context.pending.start({
      kind,
      writes,
      partitionKey: key,
      ddl: false,
      commit: handlers.commit,
      abandon: (error) => handlers.abandon(error),
    });
  }
}
