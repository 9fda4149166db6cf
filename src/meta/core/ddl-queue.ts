/**
 * The table DDL queue. DDL is serialized: requests wait here (at most `ddlQueueMax`) while one
 * change is being persisted, and each is planned only when it reaches the head, against the state
 * its predecessors left. Removals of expired dropped tables go through the same queue (internal,
 * not counted against the bound, at most one per table).
 */
import { unreachable } from "../../common/assert.ts";
import { MetaMethod } from "../../protocol/index.ts";
import {
  type DdlContext,
  type DdlPlan,
  planCreateApp,
  planDelAppEnvs,
  planDropApp,
  planRecallApp,
  planRemoveExpiredApp,
  planSetAppEnvs,
} from "./app-ddl.ts";
import type { DdlRequest, RequestId } from "./events.ts";

export type QueuedDdl =
  | { readonly type: "request"; readonly requestId: RequestId; readonly request: DdlRequest }
  | { readonly type: "removeExpired"; readonly appId: number };

export class DdlQueue {
  private readonly items: QueuedDdl[] = [];
  private readonly removals = new Set<number>();
  private requests = 0;

  constructor(private readonly ddlQueueMax: number) {}

  /** Requests waiting (the number `ddlQueueMax` bounds). */
  get length(): number {
    return this.requests;
  }

  get full(): boolean {
    return this.requests >= this.ddlQueueMax;
  }

  pushRequest(requestId: RequestId, request: DdlRequest): void {
    this.items.push({ type: "request", requestId, request });
    this.requests += 1;
  }

  /** Queues the removal of an expired dropped table unless it is queued or being persisted. */
  pushRemoval(appId: number): void {
    if (this.removals.has(appId)) return;
    this.removals.add(appId);
    this.items.push({ type: "removeExpired", appId });
  }

  shift(): QueuedDdl | undefined {
    const item = this.items.shift();
    if (item?.type === "request") this.requests -= 1;
    return item;
  }

  /** The removal of `appId` finished, was given up or turned out to be unneeded. */
  removalDone(appId: number): void {
    this.removals.delete(appId);
  }
}

/** Plans a queued item; throws the request's refusal; undefined when there is nothing to do. */
export function planQueuedDdl(
  context: DdlContext,
  item: QueuedDdl,
  isAppBusy: (appId: number) => boolean,
): DdlPlan | undefined {
  if (item.type === "removeExpired")
    return isAppBusy(item.appId) ? undefined : planRemoveExpiredApp(context, item.appId);
  const { request } = item;
  switch (request.method) {
    case MetaMethod.CREATE_APP:
      return planCreateApp(context, request.body);
    case MetaMethod.DROP_APP:
      return planDropApp(context, request.body);
    case MetaMethod.RECALL_APP:
      return planRecallApp(context, request.body);
    case MetaMethod.SET_APP_ENVS:
      return planSetAppEnvs(context, request.body);
    case MetaMethod.DEL_APP_ENVS:
      return planDelAppEnvs(context, request.body);
    default:
      return unreachable(request, "DDL method");
  }
}
