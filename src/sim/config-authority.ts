/**
 * The meta server as the simulator sees it: beacons in, leases and configurations out, and
 * configuration changes asked for by primaries. Only protocol types (src/protocol) cross this
 * interface, so the real meta core can be plugged in behind it.
 */
import type { ErrorCode } from "../common/errors.ts";
import type {
  BeaconRequest,
  BeaconResponse,
  QueryConfigurationRequest,
  QueryConfigurationResponse,
  UpdateConfigurationRequest,
  UpdateConfigurationResponse,
} from "../protocol/meta-messages.ts";
import type { PartitionConfiguration } from "../protocol/partition-config.ts";

export type UpdateConfigurationResult =
  | { readonly ok: true; readonly response: UpdateConfigurationResponse }
  /** Refused; `config` is the authority's current configuration of the partition. */
  | { readonly ok: false; readonly code: ErrorCode; readonly config?: PartitionConfiguration };

export interface ConfigAuthority {
  onBeacon(request: BeaconRequest, nowMs: number): BeaconResponse;
  onUpdateConfiguration(
    request: UpdateConfigurationRequest,
    nowMs: number,
  ): UpdateConfigurationResult;
  onQueryConfiguration(
    request: QueryConfigurationRequest,
    nowMs: number,
  ): QueryConfigurationResponse;
  /** Failure detection and reassignment run here. */
  tick(nowMs: number): void;
  /** Every partition's current configuration (for checkers). */
  configurations(): readonly PartitionConfiguration[];
}
