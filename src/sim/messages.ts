/**
 * Everything that travels on the simulated network. Replica↔replica traffic and the meta
 * protocol use the real protocol types (src/protocol); clients and checkpoint transfer use small
 * sim-only messages standing in for the client library and the runtime's file transfer.
 */
import type { ErrorCode } from "../common/errors.ts";
import type { Gpid } from "../protocol/ids.ts";
import type {
  BeaconRequest,
  BeaconResponse,
  QueryConfigurationRequest,
  QueryConfigurationResponse,
  UpdateConfigurationRequest,
} from "../protocol/meta-messages.ts";
import type { PartitionConfiguration } from "../protocol/partition-config.ts";
import type { ReplicaMessage } from "../protocol/replica-messages.ts";
import type { StorageSnapshot } from "./sim-disk.ts";

export type SimMessage =
  | { readonly kind: "REPLICA"; readonly message: ReplicaMessage }
  | { readonly kind: "BEACON"; readonly request: BeaconRequest; readonly sentAtMs: number }
  | { readonly kind: "BEACON_REPLY"; readonly response: BeaconResponse; readonly sentAtMs: number }
  | { readonly kind: "UPDATE_CONFIG"; readonly request: UpdateConfigurationRequest }
  | {
      readonly kind: "UPDATE_CONFIG_REPLY";
      /** The request answered (an RPC reply is matched to its call). */
      readonly request: UpdateConfigurationRequest;
      readonly ok: boolean;
      readonly config?: PartitionConfiguration;
    }
  | { readonly kind: "QUERY_CONFIG"; readonly request: QueryConfigurationRequest }
  | { readonly kind: "QUERY_CONFIG_REPLY"; readonly response: QueryConfigurationResponse }
  | {
      readonly kind: "CLIENT_WRITE";
      readonly gpid: Gpid;
      readonly requestId: number;
      readonly key: string;
      readonly value: string;
    }
  | {
      readonly kind: "CLIENT_REPLY";
      readonly requestId: number;
      readonly ok: boolean;
      readonly decree?: number;
      readonly code?: ErrorCode;
    }
  | { readonly kind: "CHECKPOINT_FETCH"; readonly gpid: Gpid; readonly id: string }
  | {
      readonly kind: "CHECKPOINT_DATA";
      readonly gpid: Gpid;
      readonly id: string;
      readonly snapshot?: StorageSnapshot;
    };
