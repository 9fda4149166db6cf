/**
 * The meta server as the simulator sees it: beacons in, leases and configurations out, and
 * configuration changes asked for by primaries. Only protocol types (src/protocol) cross this
 * interface, so the real meta core (meta-core-authority.ts) and the small in-sim stand-in
 * (simple-authority.ts) are interchangeable.
 *
 * Answers may be missing (the authority is down: the request is lost, as on the network) and
 * UPDATE_CONFIGURATION may be answered later (the real meta core persists a change before it
 * answers) or never (it crashed meanwhile).
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
  /** The reply, or undefined when the authority cannot answer. */
  onBeacon(request: BeaconRequest, nowMs: number): BeaconResponse | undefined;
  /** Answers through `reply`: at once, later, or never. */
  onUpdateConfiguration(
    request: UpdateConfigurationRequest,
    nowMs: number,
    reply: (result: UpdateConfigurationResult) => void,
  ): void;
  /** The table's configurations, or undefined when there is no answer (down, no table yet). */
  onQueryConfiguration(
    request: QueryConfigurationRequest,
    nowMs: number,
  ): QueryConfigurationResponse | undefined;
  /** Failure detection and reassignment run here. */
  tick(nowMs: number): void;
  /** Every partition's current configuration (for checkers and logs). */
  configurations(): readonly PartitionConfiguration[];
}
