/**
 * The client-facing RPCs of a replica server: validate the payload, check that this server may
 * serve the partition (primary, lease, route not stale, key in partition), then write or read.
 * Refusals made before anything executes carry `details.beforeExecution`, which tells the client
 * even a non-idempotent request is safe to retry elsewhere.
 */
import { partitionIndex } from "../codec/key-schema.ts";
import { UpdateKind } from "../codec/mutation.ts";
import { TalariaError } from "../common/errors.ts";
import {
  type ClientReadRequest,
  type ClientWriteRequest,
  type ReadRequest,
  ReplicaClientMethod,
} from "../protocol/client-messages.ts";
import { type Gpid, gpidKey } from "../protocol/index.ts";
import * as v from "../protocol/validate.ts";
import {
  decodeReadRequest,
  decodeWriteRequest,
  executeRead,
  type PartitionReplica,
  type ReplicaReads,
  type WriteRequest,
  type WriteResult,
} from "../replica/index.ts";
import type { RpcServer } from "../rpc/index.ts";
import type { AppEnvPolicy } from "./app-env-policy.ts";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A partition as the handlers see it. */
export interface ServedPartition {
  readonly partitionCount: number;
  /** Why this server must not serve `kind` requests of the partition now, or undefined. */
  refusal(kind: "read" | "write"): string | undefined;
  write(request: WriteRequest): Promise<WriteResult>;
  readonly reads: ReplicaReads;
  /** The table's env policy (deny, throttling, default TTL), when it has envs. */
  readonly policy?: AppEnvPolicy;
}

export type PartitionLookup = (gpid: Gpid) => ServedPartition | undefined;

/** A hosted replica as the handlers see it; `partitionCount` comes from the table's AppInfo. */
export function asServedPartition(
  replica: PartitionReplica,
  partitionCount: number,
): ServedPartition {
  return {
    partitionCount,
    refusal: (kind) => replica.refusal(kind),
    write: (request) => replica.write(request),
    reads: replica.reads,
  };
}

function refuse(gpid: Gpid, reason: string): TalariaError {
  return new TalariaError("ERR_INVALID_STATE", `partition ${gpidKey(gpid)}: ${reason}`, {
    retriable: true,
    details: { gpid: gpidKey(gpid), reason, beforeExecution: true },
  });
}

function servedPartition(
  lookup: PartitionLookup,
  gpid: Gpid,
  partitionCount: number,
  kind: "read" | "write",
): ServedPartition {
  const partition = lookup(gpid);
  if (partition === undefined) throw refuse(gpid, "not hosted here");
  if (partition.partitionCount !== partitionCount) {
    throw refuse(
      gpid,
      `the table has ${partition.partitionCount} partitions, the request routed by ${partitionCount}`,
    );
  }
  const refusal = partition.refusal(kind);
  if (refusal !== undefined) throw refuse(gpid, refusal);
  return partition;
}

/** The keys a request touches, to check they belong to the partition it was sent to. */
function* keysOf(request: WriteRequest | ReadRequest): Generator<readonly [Buffer, Buffer]> {
  const empty = Buffer.alloc(0);
  switch (request.op) {
    case "set":
    case "del":
    case "incr":
    case "get":
    case "exist":
    case "ttl":
      yield [request.hashKey, request.sortKey];
      return;
    case "multiSet":
    case "multiDel":
    case "checkAndSet":
    case "checkAndMutate":
    case "multiGet":
    case "multiGetRange":
    case "sortKeyCount":
      yield [request.hashKey, empty];
      return;
    case "batchGet":
      for (const key of request.keys) yield [key.hashKey, key.sortKey];
      return;
    case "duplicate":
      for (const entry of request.entries) {
        const u = entry.update;
        yield [
          u.hashKey,
          u.kind === UpdateKind.PUT || u.kind === UpdateKind.REMOVE ? u.sortKey : empty,
        ];
      }
      return;
    case "scan":
    case "scanNext":
      return;
  }
}

function checkKeys(gpid: Gpid, partitionCount: number, request: WriteRequest | ReadRequest): void {
  for (const [hashKey, sortKey] of keysOf(request)) {
    if (partitionIndex(hashKey, sortKey, partitionCount) !== gpid.partitionIndex) {
      throw new TalariaError(
        "ERR_INVALID_PARAMETERS",
        `a key of this request does not belong to partition ${gpidKey(gpid)}`,
        {
          details: { gpid: gpidKey(gpid), beforeExecution: true },
        },
      );
    }
  }
}

export function registerClientHandlers(server: RpcServer, lookup: PartitionLookup): void {
  server.handle(ReplicaClientMethod.WRITE, async (payload, context) => {
    const body = v.object(payload, "payload");
    const message: ClientWriteRequest = {
      gpid: v.gpid(body.gpid, "gpid"),
      partitionCount: v.integer(body.partitionCount, "partitionCount", 1),
      request: decodeWriteRequest(body.request),
    };
    const partition = servedPartition(lookup, message.gpid, message.partitionCount, "write");
    checkKeys(message.gpid, message.partitionCount, message.request);
    const policy = partition.policy;
    if (policy === undefined) return partition.write(message.request);
    policy.checkDeny("write");
    const admission = policy.admitWrite(message.request, Date.now());
    if (admission.waitMs > 0) {
      await sleep(Math.min(admission.waitMs, Math.max(0, (context.deadlineMs - Date.now()) / 2)));
    }
    if (admission.reject !== undefined) throw admission.reject;
    return partition.write(policy.withDefaultTtl(message.request, Date.now()));
  });
  server.handle(ReplicaClientMethod.READ, async (payload) => {
    const body = v.object(payload, "payload");
    const message: ClientReadRequest = {
      gpid: v.gpid(body.gpid, "gpid"),
      partitionCount: v.integer(body.partitionCount, "partitionCount", 1),
      read: decodeReadRequest(body.read),
    };
    const partition = servedPartition(lookup, message.gpid, message.partitionCount, "read");
    checkKeys(message.gpid, message.partitionCount, message.read);
    partition.policy?.checkDeny("read");
    return executeRead(partition.reads, message.read);
  });
}
