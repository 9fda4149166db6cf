/**
 * What goes into the meta core (events) and what comes out (actions). Every event carries the
 * time it happened (`nowMs`); the core never reads a clock.
 *
 * The runtime's contract, in the order it must handle actions (like raft's Ready):
 * 1. `persist`: apply `writes` to the meta store atomically, then feed back `persisted { opId }`,
 *    or `persistFailed { opId, error }`. `set` writes go to `multi` as they are; a `deleteTree`
 *    (always alone) is `delete(path, { recursive: true })` with ERR_OBJECT_NOT_FOUND counting as
 *    success. A failure whose error is not retriable (`TalariaError.retriable === false`) must
 *    mean the writes were certainly not applied; any other failure is treated as "maybe applied"
 *    and the same writes are retried (they are absolute values, so repeating them is harmless).
 *    A large change comes as parts 1..parts under one op id, each emitted after the previous one
 *    is persisted.
 * 2. `reply`: send the result to the request's caller. Replies to state changes are only emitted
 *    after their writes are persisted.
 * Actions are independent of one another except that order; the runtime may run persists with
 * different opIds concurrently (they never touch the same path).
 */
import type { TalariaError } from "../../common/errors.ts";
import type {
  AddDuplicationRequest,
  AddDuplicationResponse,
  AppEnvsResponse,
  BeaconRequest,
  BeaconResponse,
  ClusterInfoRequest,
  ClusterInfoResponse,
  CreateAppRequest,
  CreateAppResponse,
  DelAppEnvsRequest,
  DropAppRequest,
  DropAppResponse,
  DuplicationSyncRequest,
  DuplicationSyncResponse,
  ListAppsRequest,
  ListAppsResponse,
  ListDuplicationsRequest,
  ListDuplicationsResponse,
  ListNodesRequest,
  ListNodesResponse,
  ModifyDuplicationRequest,
  ModifyDuplicationResponse,
  QueryConfigurationRequest,
  QueryConfigurationResponse,
  QueryDuplicationRequest,
  QueryDuplicationResponse,
  RecallAppRequest,
  RecallAppResponse,
  ResyncDuplicationRequest,
  ResyncDuplicationResponse,
  SetAppEnvsRequest,
  UpdateConfigurationRequest,
  UpdateConfigurationResponse,
} from "../../protocol/index.ts";
import { DuplicationMethod, MetaMethod } from "../../protocol/index.ts";
import type { DuplicationRemoteTask } from "./duplication/remote-tasks.ts";
import type { MetaStoreWrite } from "./layout.ts";

/** Chosen by the runtime; echoed in the reply. */
export type RequestId = number;
/** Chosen by the core; increases by one per persist operation. */
export type OpId = number;

/** Request and response body types per RPC method. */
export interface MetaMethodTypes {
  [MetaMethod.BEACON]: { request: BeaconRequest; response: BeaconResponse };
  [MetaMethod.UPDATE_CONFIGURATION]: {
    request: UpdateConfigurationRequest;
    response: UpdateConfigurationResponse;
  };
  [MetaMethod.QUERY_CONFIGURATION]: {
    request: QueryConfigurationRequest;
    response: QueryConfigurationResponse;
  };
  [MetaMethod.CREATE_APP]: { request: CreateAppRequest; response: CreateAppResponse };
  [MetaMethod.DROP_APP]: { request: DropAppRequest; response: DropAppResponse };
  [MetaMethod.RECALL_APP]: { request: RecallAppRequest; response: RecallAppResponse };
  [MetaMethod.LIST_APPS]: { request: ListAppsRequest; response: ListAppsResponse };
  [MetaMethod.LIST_NODES]: { request: ListNodesRequest; response: ListNodesResponse };
  [MetaMethod.CLUSTER_INFO]: { request: ClusterInfoRequest; response: ClusterInfoResponse };
  [MetaMethod.SET_APP_ENVS]: { request: SetAppEnvsRequest; response: AppEnvsResponse };
  [MetaMethod.DEL_APP_ENVS]: { request: DelAppEnvsRequest; response: AppEnvsResponse };
  [DuplicationMethod.ADD]: { request: AddDuplicationRequest; response: AddDuplicationResponse };
  [DuplicationMethod.MODIFY]: {
    request: ModifyDuplicationRequest;
    response: ModifyDuplicationResponse;
  };
  [DuplicationMethod.QUERY]: {
    request: QueryDuplicationRequest;
    response: QueryDuplicationResponse;
  };
  [DuplicationMethod.LIST]: {
    request: ListDuplicationsRequest;
    response: ListDuplicationsResponse;
  };
  [DuplicationMethod.SYNC]: { request: DuplicationSyncRequest; response: DuplicationSyncResponse };
  [DuplicationMethod.RESYNC]: {
    request: ResyncDuplicationRequest;
    response: ResyncDuplicationResponse;
  };
}

export type MetaMethodName = keyof MetaMethodTypes;

/** A request with its method, typed together. */
export type MetaRequest = {
  [M in MetaMethodName]: { readonly method: M; readonly body: MetaMethodTypes[M]["request"] };
}[MetaMethodName];

/** The table DDL methods: serialized, one persisted at a time. */
export const ddlMethods = [
  MetaMethod.CREATE_APP,
  MetaMethod.DROP_APP,
  MetaMethod.RECALL_APP,
  MetaMethod.SET_APP_ENVS,
  MetaMethod.DEL_APP_ENVS,
] as const;
export type DdlMethodName = (typeof ddlMethods)[number];
export type DdlRequest = Extract<MetaRequest, { method: DdlMethodName }>;

export type MetaEvent =
  /** A request from a replica server, client, shell or HTTP handler. */
  | {
      readonly type: "request";
      readonly nowMs: number;
      readonly requestId: RequestId;
      readonly request: MetaRequest;
    }
  /** Time passes: failure detection, reassignment, learners, balancing, expiry, persist retries. */
  | { readonly type: "tick"; readonly nowMs: number }
  | { readonly type: "persisted"; readonly nowMs: number; readonly opId: OpId }
  /**
   * The outcome of a task the runtime ran against a remote cluster's meta servers on the core's
   * behalf (full duplication: `MetaCore.duplicationRemoteTasks`). `result` holds the remote's
   * answer, already validated by the runtime, or its error.
   */
  | {
      readonly type: "duplicationRemote";
      readonly nowMs: number;
      readonly task: DuplicationRemoteTask;
      readonly result: MetaResult;
    }
  | {
      readonly type: "persistFailed";
      readonly nowMs: number;
      readonly opId: OpId;
      readonly error: unknown;
    };

export type MetaResult<T = unknown> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: TalariaError };

/** Why a persist operation exists (for logs, metrics and tests). */
export type PersistKind =
  | "CREATE_APP"
  | "DROP_APP"
  | "RECALL_APP"
  | "SET_APP_ENVS"
  | "DEL_APP_ENVS"
  | "RECORD_REMOVED_APP"
  | "REMOVE_EXPIRED_APP"
  | "UPDATE_CONFIGURATION"
  | "DEAD_SECONDARY"
  | "SECONDARY_NOT_SERVING"
  | "DEAD_PRIMARY_PROMOTED"
  | "DEAD_PRIMARY_NO_CANDIDATE"
  | "PRIMARY_NOT_SERVING"
  | "LAST_PRIMARY_RETURNED"
  | "LAST_PRIMARY_NEVER_WRITTEN"
  | "FOLLOWER_PRIMARY_REPLACED"
  | "BALANCE_PRIMARY"
  | "ADD_DUPLICATION"
  | "START_DUPLICATION"
  | "ALTER_DUPLICATION"
  | "REMOVE_DUPLICATION"
  | "DUPLICATION_PROGRESS"
  | "PREPARE_DUPLICATION"
  | "FULL_SYNC_DUPLICATION"
  | "RESYNC_DUPLICATION"
  | "FORGET_ORPHAN_MARK"
  | "FOLLOWER_APP_CREATED";

export type MetaAction =
  | {
      readonly type: "persist";
      readonly opId: OpId;
      readonly kind: PersistKind;
      /** Which part of the change this is (1-based), and how many parts it has. */
      readonly part: number;
      readonly parts: number;
      /** 1 for the first try of this part; higher for retries after a failure. */
      readonly attempt: number;
      readonly writes: readonly MetaStoreWrite[];
    }
  | { readonly type: "reply"; readonly requestId: RequestId; readonly result: MetaResult };
