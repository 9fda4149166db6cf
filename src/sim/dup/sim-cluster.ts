/** The simulated cluster, and the constants the duplication simulator's parts share. */
import type { DuplicateReceiverPolicy } from "../../duplication/index.ts";
import type { LinkFaults } from "./links.ts";
import type { SimPartition } from "./sim-partition.ts";
import type { SimDup, SimShipper } from "./sim-shipper.ts";

export interface SimCluster {
  readonly id: number;
  readonly partitions: SimPartition[];
  skewMs: number;
  metaDownUntilMs: number;
  readonly policy: DuplicateReceiverPolicy;
  readonly outgoing: SimDup[];
  /** Per outgoing dup (same order), per partition: the running shipper, if any. */
  readonly shippers: (SimShipper | undefined)[][];
  /** Per outgoing dup, per partition: the re-sync shipper while the dup re-syncs. */
  readonly resyncs: (SimShipper | undefined)[][];
}

/**
 * TOMBSTONE_HOLD_RELEASE_MS scaled down with the retention (60 s of 24 h there, 1 s of 20 s
 * here): a hold lasts this long after the last sync that gave it a cause.
 */
export const HOLD_RELEASE_MS = 1_000;
export const HEALTHY_LINK: LinkFaults = {
  delayMinMs: 5,
  delayMaxMs: 40,
  dropRate: 0,
  duplicateRate: 0,
};
