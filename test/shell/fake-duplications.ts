/**
 * The duplications of the fake backend: add / modify / query / list / resync as the meta server
 * answers them (checks in its order, ref §2.3.1, as far as the shell can observe), plus the
 * replica servers' dead-letter RPCs through a settable node handler.
 */
import { TalariaError } from "../../src/common/index.ts";
import {
  type AddDuplicationRequest,
  type AddDuplicationResponse,
  type AppInfo,
  type DuplicationDetail,
  DuplicationFailMode,
  type DuplicationPartitionState,
  DuplicationStatus,
  FullSyncMode,
  type ListDuplicationsRequest,
  type ListDuplicationsResponse,
  type ModifyDuplicationRequest,
  type ModifyDuplicationResponse,
  PatternMatchType,
  type QueryDuplicationResponse,
  type ResyncDuplicationRequest,
  type ResyncDuplicationResponse,
} from "../../src/protocol/index.ts";

/** The first dupid handed out (a meta server's unix seconds at add). */
export const FIRST_DUPID = 1_767_323_045;
export const DUP_CREATED_AT_MS = FIRST_DUPID * 1000;

export interface DuplicationHost {
  record(method: string, ...args: unknown[]): void;
  available(name: string): AppInfo;
  availableApps(): AppInfo[];
}

function matches(name: string, pattern: string, type: PatternMatchType): boolean {
  switch (type) {
    case PatternMatchType.MATCH_ALL:
      return true;
    case PatternMatchType.MATCH_EXACT:
      return name === pattern;
    case PatternMatchType.MATCH_ANYWHERE:
      return name.includes(pattern);
    case PatternMatchType.MATCH_PREFIX:
      return name.startsWith(pattern);
    case PatternMatchType.MATCH_POSTFIX:
      return name.endsWith(pattern);
  }
}

export class FakeDuplications {
  private readonly host: DuplicationHost;
  /** By app id, sorted by dupid. */
  private readonly byApp = new Map<number, DuplicationDetail[]>();
  private nextDupid = FIRST_DUPID;
  /** `add` answers DS_INIT with a hint, as when the meta server's wait runs out. */
  addTimesOut = false;

  constructor(host: DuplicationHost) {
    this.host = host;
  }

  private of(app: AppInfo): DuplicationDetail[] {
    let list = this.byApp.get(app.appId);
    if (list === undefined) {
      list = [];
      this.byApp.set(app.appId, list);
    }
    return list;
  }

  private find(appName: string, dupid: number): { list: DuplicationDetail[]; index: number } {
    const list = this.of(this.host.available(appName));
    const index = list.findIndex((d) => d.dupid === dupid);
    if (index < 0)
      throw new TalariaError(
        "ERR_OBJECT_NOT_FOUND",
        `duplication ${dupid} of ${appName} not found`,
      );
    return { list, index };
  }

  /** Sets a duplication's per-partition progress (test setup, not recorded). */
  setProgress(appName: string, dupid: number, states: readonly DuplicationPartitionState[]): void {
    const { list, index } = this.find(appName, dupid);
    list[index] = { ...(list[index] as DuplicationDetail), partitionStates: states };
  }

  /** Sets (or clears) the last remote-meta failure a full sync shows (test setup). */
  setRemoteError(
    appName: string,
    dupid: number,
    remoteError: DuplicationDetail["remoteError"] | undefined,
  ): void {
    const { list, index } = this.find(appName, dupid);
    const { remoteError: _old, ...rest } = list[index] as DuplicationDetail;
    list[index] = { ...rest, ...(remoteError === undefined ? {} : { remoteError }) };
  }

  /** Sets a duplication's status and full sync (test setup, not recorded). */
  setStatus(
    appName: string,
    dupid: number,
    status: DuplicationStatus,
    fullSync: FullSyncMode | undefined,
  ): void {
    const { list, index } = this.find(appName, dupid);
    const { fullSync: _old, ...rest } = list[index] as DuplicationDetail;
    list[index] = { ...rest, status, ...(fullSync === undefined ? {} : { fullSync }) };
  }

  async add(request: AddDuplicationRequest): Promise<AddDuplicationResponse> {
    this.host.record("addDuplication", request);
    if (request.isDuplicatingCheckpoint === true) return this.addFull(request);
    const app = this.host.available(request.appName);
    const list = this.of(app);
    const existing = list.find((d) => d.remoteClusterName === request.remoteClusterName);
    if (existing !== undefined)
      throw new TalariaError(
        "ERR_DUP_EXIST",
        `${request.appName} already duplicates to ${request.remoteClusterName}`,
        { details: { appId: app.appId, dupid: existing.dupid, status: existing.status } },
      );
    const startDecrees = Array.from({ length: app.partitionCount }, (_, i) => 10 + i);
    const status = this.addTimesOut
      ? DuplicationStatus.DS_INIT
      : request.freezed === true
        ? DuplicationStatus.DS_PAUSE
        : DuplicationStatus.DS_LOG;
    const detail: DuplicationDetail = {
      dupid: this.nextDupid++,
      status,
      failMode: DuplicationFailMode.FAIL_SLOW,
      remoteClusterName: request.remoteClusterName,
      remoteAppName: request.remoteAppName ?? app.appName,
      remoteReplicaCount: request.remoteReplicaCount || app.replicaCount,
      createdAtMs: DUP_CREATED_AT_MS,
      partitionStates: startDecrees.map((decree) => ({
        confirmedDecree: this.addTimesOut ? -1 : decree,
        lastCommittedDecree: decree,
      })),
    };
    list.push(detail);
    return {
      appId: app.appId,
      dupid: detail.dupid,
      status,
      remoteAppName: detail.remoteAppName,
      remoteReplicaCount: detail.remoteReplicaCount,
      startDecrees: this.addTimesOut ? startDecrees.map(() => -1) : startDecrees,
      ...(this.addTimesOut
        ? { hint: "not every partition reported its start decree within 30000 ms" }
        : {}),
    };
  }

  /** Full duplication: DS_PREPARE at once, every partition asked for its checkpoint. */
  private addFull(request: AddDuplicationRequest): AddDuplicationResponse {
    const app = this.host.available(request.appName);
    const list = this.of(app);
    const existing = list.find((d) => d.remoteClusterName === request.remoteClusterName);
    if (existing !== undefined)
      throw new TalariaError(
        "ERR_DUP_EXIST",
        `${request.appName} already duplicates to ${request.remoteClusterName}`,
        { details: { appId: app.appId, dupid: existing.dupid, status: existing.status } },
      );
    const detail: DuplicationDetail = {
      dupid: this.nextDupid++,
      status: DuplicationStatus.DS_PREPARE,
      failMode: DuplicationFailMode.FAIL_SLOW,
      remoteClusterName: request.remoteClusterName,
      remoteAppName: request.remoteAppName ?? app.appName,
      remoteReplicaCount: request.remoteReplicaCount || app.replicaCount,
      createdAtMs: DUP_CREATED_AT_MS,
      fullSync: FullSyncMode.CREATE,
      partitionStates: Array.from({ length: app.partitionCount }, () => ({
        confirmedDecree: -1,
        lastCommittedDecree: -1,
        checkpointPrepared: false,
      })),
    };
    list.push(detail);
    return {
      appId: app.appId,
      dupid: detail.dupid,
      status: detail.status,
      remoteAppName: detail.remoteAppName,
      remoteReplicaCount: detail.remoteReplicaCount,
      startDecrees: detail.partitionStates.map(() => -1),
      hint: "full duplication runs in the background",
    };
  }

  async resync(request: ResyncDuplicationRequest): Promise<ResyncDuplicationResponse> {
    this.host.record("resyncDuplication", request);
    const { list, index } = this.find(request.appName, request.dupid);
    const current = list[index] as DuplicationDetail;
    if (
      current.status !== DuplicationStatus.DS_LOG &&
      current.status !== DuplicationStatus.DS_PAUSE
    )
      throw new TalariaError(
        "ERR_INVALID_STATE",
        `duplication ${current.dupid} is ${current.status}`,
        { details: { status: current.status } },
      );
    list[index] = {
      ...current,
      status: DuplicationStatus.DS_PREPARE,
      fullSync: FullSyncMode.RESYNC,
      partitionStates: current.partitionStates.map(() => ({
        confirmedDecree: -1,
        lastCommittedDecree: -1,
        checkpointPrepared: false,
      })),
    };
    return {
      appId: this.host.available(request.appName).appId,
      dupid: current.dupid,
      status: DuplicationStatus.DS_PREPARE,
      failMode: current.failMode,
    };
  }

  async modify(request: ModifyDuplicationRequest): Promise<ModifyDuplicationResponse> {
    this.host.record("modifyDuplication", request);
    const { list, index } = this.find(request.appName, request.dupid);
    const current = list[index] as DuplicationDetail;
    const next: DuplicationDetail = {
      ...current,
      ...(request.status === undefined ? {} : { status: request.status }),
      ...(request.failMode === undefined ? {} : { failMode: request.failMode }),
    };
    if (next.status === DuplicationStatus.DS_REMOVED) list.splice(index, 1);
    else list[index] = next;
    return {
      appId: this.host.available(request.appName).appId,
      dupid: next.dupid,
      status: next.status,
      failMode: next.failMode,
    };
  }

  private queryOf(app: AppInfo): QueryDuplicationResponse {
    return {
      appId: app.appId,
      appName: app.appName,
      partitionCount: app.partitionCount,
      duplications: [...this.of(app)],
    };
  }

  async query(appName: string): Promise<QueryDuplicationResponse> {
    this.host.record("queryDuplication", appName);
    return this.queryOf(this.host.available(appName));
  }

  async list(request: ListDuplicationsRequest): Promise<ListDuplicationsResponse> {
    this.host.record("listDuplications", request);
    const type = request.matchType ?? PatternMatchType.MATCH_ALL;
    return {
      apps: this.host
        .availableApps()
        .filter((app) => matches(app.appName, request.appNamePattern ?? "", type))
        .map((app) => this.queryOf(app)),
    };
  }
}
