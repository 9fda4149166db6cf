/**
 * Changes written to the meta store and not yet acknowledged (the middle of alter → persist →
 * commit). A change's writes are split into parts of at most `persistWritesPerOpMax` (one
 * meta-store `multi` each), persisted one after another under the change's op id; the change
 * commits when its last part is persisted.
 *
 * Invariants: op ids increase by one; at most one change per partition key and at most one DDL
 * change are pending; a pending change has exactly one part either held by the runtime
 * (`retryAtMs` undefined) or waiting for its retry time. A retriable failure repeats the same part
 * after min(persistRetryDelayMs · 2^(attempt−1), persistRetryDelayMaxMs).
 */
import { assert } from "../../common/assert.ts";
import type { TalariaError } from "../../common/errors.ts";
import type { MetaAction, OpId, PersistKind } from "./events.ts";
import type { MetaStoreWrite } from "./layout.ts";

export interface Change {
  readonly kind: PersistKind;
  /** In order; any prefix must be harmless (the record that makes the change exist comes last). */
  readonly writes: readonly MetaStoreWrite[];
  /**
   * The key the change is serialized under: the gpid key of a partition change, or a duplication's
   * `<appId>.dup<dupid>` / `<appId>.dup<dupid>.<pidx>` (duplication-core.ts). Every key starts
   * with `<appId>.`, so `isAppBusy` sees them all.
   */
  readonly partitionKey: string | undefined;
  readonly ddl: boolean;
  /** Applies the change to committed state; returns the replies it releases. */
  readonly commit: () => MetaAction[];
  /**
   * The change is given up: the current part was certainly not applied, `partsPersisted` earlier
   * parts were. Returns the replies.
   */
  readonly abandon: (error: TalariaError, partsPersisted: number) => MetaAction[];
}

interface PendingChange extends Change {
  readonly opId: OpId;
  readonly parts: readonly (readonly MetaStoreWrite[])[];
  part: number;
  attempt: number;
  retryAtMs: number | undefined;
}

export interface PendingSettings {
  readonly persistRetryDelayMs: number;
  readonly persistRetryDelayMaxMs: number;
  readonly persistWritesPerOpMax: number;
}

export type PersistedOutcome = { readonly committed: Change } | { readonly nextPart: MetaAction };

export type FailedOutcome =
  | { readonly abandoned: Change; readonly partsPersisted: number }
  | { readonly retryDelayMs: number; readonly kind: PersistKind; readonly attempt: number };

export class PendingChanges {
  private readonly pending = new Map<OpId, PendingChange>();
  private readonly byPartition = new Map<string, OpId>();
  private ddlOpId: OpId | undefined;
  private nextOpId = 1;

  constructor(private readonly settings: PendingSettings) {}

  get size(): number {
    return this.pending.size;
  }

  get ddlPending(): boolean {
    return this.ddlOpId !== undefined;
  }

  isPartitionBusy(key: string): boolean {
    return this.byPartition.has(key);
  }

  isAppBusy(appId: number): boolean {
    const prefix = `${appId}.`;
    for (const key of this.byPartition.keys()) if (key.startsWith(prefix)) return true;
    return false;
  }

  /** Registers a change; returns the persist action of its first part. */
  start(change: Change): MetaAction {
    assert(change.writes.length > 0, "a change without writes");
    const pending: PendingChange = {
      ...change,
      opId: this.nextOpId,
      parts: splitParts(change.writes, this.settings.persistWritesPerOpMax),
      part: 0,
      attempt: 1,
      retryAtMs: undefined,
    };
    this.nextOpId += 1;
    if (change.partitionKey !== undefined) {
      assert(!this.byPartition.has(change.partitionKey), `two changes for ${change.partitionKey}`);
      this.byPartition.set(change.partitionKey, pending.opId);
    }
    if (change.ddl) {
      assert(this.ddlOpId === undefined, "two DDL changes in flight");
      this.ddlOpId = pending.opId;
    }
    this.pending.set(pending.opId, pending);
    return persistAction(pending);
  }

  /** The runtime persisted the held part: the next part, or the change to commit. */
  persisted(opId: OpId): PersistedOutcome {
    const pending = this.held(opId);
    if (pending.part + 1 < pending.parts.length) {
      pending.part += 1;
      pending.attempt = 1;
      return { nextPart: persistAction(pending) };
    }
    this.remove(pending);
    return { committed: pending };
  }

  /**
   * The held part failed: gives the change up when the failure is definite (the part was not
   * applied), otherwise schedules a retry of the same part.
   */
  failed(opId: OpId, definite: boolean, nowMs: number): FailedOutcome {
    const pending = this.held(opId);
    if (definite) {
      this.remove(pending);
      return { abandoned: pending, partsPersisted: pending.part };
    }
    const { persistRetryDelayMs, persistRetryDelayMaxMs } = this.settings;
    const retryDelayMs = Math.min(
      persistRetryDelayMaxMs,
      persistRetryDelayMs * 2 ** Math.min(pending.attempt - 1, 30),
    );
    pending.retryAtMs = nowMs + retryDelayMs;
    return { retryDelayMs, kind: pending.kind, attempt: pending.attempt };
  }

  /** Persist actions for every part whose retry time has come. */
  dueRetries(nowMs: number): MetaAction[] {
    const actions: MetaAction[] = [];
    for (const pending of this.pending.values()) {
      if (pending.retryAtMs === undefined || pending.retryAtMs > nowMs) continue;
      pending.retryAtMs = undefined;
      pending.attempt += 1;
      actions.push(persistAction(pending));
    }
    return actions;
  }

  private held(opId: OpId): PendingChange {
    const pending = this.pending.get(opId);
    assert(
      pending !== undefined && pending.retryAtMs === undefined,
      `persist outcome for op ${opId}, which the runtime does not hold`,
    );
    return pending;
  }

  private remove(pending: PendingChange): void {
    this.pending.delete(pending.opId);
    if (pending.partitionKey !== undefined) this.byPartition.delete(pending.partitionKey);
    if (pending.ddl) this.ddlOpId = undefined;
  }
}

/** Runs of at most `perPart` sets, in order; a deleteTree is a part of its own. */
function splitParts(
  writes: readonly MetaStoreWrite[],
  perPart: number,
): (readonly MetaStoreWrite[])[] {
  const parts: MetaStoreWrite[][] = [];
  let sets: MetaStoreWrite[] = [];
  for (const write of writes) {
    if (write.op === "deleteTree") {
      if (sets.length > 0) parts.push(sets);
      parts.push([write]);
      sets = [];
      continue;
    }
    sets.push(write);
    if (sets.length === perPart) {
      parts.push(sets);
      sets = [];
    }
  }
  if (sets.length > 0) parts.push(sets);
  return parts;
}

function persistAction(pending: PendingChange): MetaAction {
  return {
    type: "persist",
    opId: pending.opId,
    kind: pending.kind,
    part: pending.part + 1,
    parts: pending.parts.length,
    attempt: pending.attempt,
    writes: pending.parts[pending.part] ?? [],
  };
}
