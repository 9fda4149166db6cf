/**
 * Messages between clients and replica servers (protocol v1). A client sends each request to the
 * primary of the partition its key hashes to; a replica that is not (or no longer) that primary
 * answers ERR_INVALID_STATE and the client refreshes its configuration from the meta server.
 */
import type { WriteRequest, WriteResult } from "../replica/index.ts";
import type {
  KeyValue,
  MultiGetRangeOptions,
  MultiGetResult,
  ScanBatch,
  ScanOptions,
} from "../storage/types.ts";
import type { Gpid } from "./ids.ts";

export const ReplicaClientMethod = {
  WRITE: "replica.client_write",
  READ: "replica.client_read",
} as const;

export interface ClientWriteRequest {
  readonly gpid: Gpid;
  /** The table's partition count as the client knows it: a mismatch means a stale route. */
  readonly partitionCount: number;
  readonly request: WriteRequest;
}

export type ClientWriteResponse = WriteResult;

export type ReadRequest =
  | { readonly op: "get"; readonly hashKey: Buffer; readonly sortKey: Buffer }
  | { readonly op: "exist"; readonly hashKey: Buffer; readonly sortKey: Buffer }
  | { readonly op: "ttl"; readonly hashKey: Buffer; readonly sortKey: Buffer }
  | {
      readonly op: "multiGet";
      readonly hashKey: Buffer;
      readonly sortKeys: readonly Buffer[];
      readonly maxKvCount?: number;
      readonly maxKvSize?: number;
      readonly noValue?: boolean;
    }
  | {
      readonly op: "multiGetRange";
      readonly hashKey: Buffer;
      readonly options: MultiGetRangeOptions;
    }
  | {
      readonly op: "batchGet";
      readonly keys: readonly { readonly hashKey: Buffer; readonly sortKey: Buffer }[];
    }
  | { readonly op: "sortKeyCount"; readonly hashKey: Buffer }
  | { readonly op: "scan"; readonly options: ScanOptions }
  | { readonly op: "scanNext"; readonly continuationToken: string };

export interface ClientReadRequest {
  readonly gpid: Gpid;
  readonly partitionCount: number;
  readonly read: ReadRequest;
}

/** The answer to each read op, in the same order as ReadRequest. */
export type ReadResponse =
  | { readonly value?: Buffer; readonly expireTs?: number } // get
  | { readonly exists: boolean } // exist
  | { readonly ttlSeconds?: number } // ttl: absent = not found, -1 = no TTL
  | MultiGetResult // multiGet, multiGetRange
  | { readonly results: readonly (KeyValue | null)[] } // batchGet
  | { readonly count: number } // sortKeyCount
  | ScanBatch; // scan, scanNext
