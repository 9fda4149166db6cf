/**
 * Cross-cluster duplication, data plane: the source side (per duplication and primary partition:
 * load committed mutations from the plog, route each entry to the remote table's partition, ship,
 * advance) and the target side's checks. The meta side lives in src/meta/core/duplication.
 * See docs/duplication.md.
 */
export { entryPartitionIndex, routingKey } from "./route.ts";
export * from "./source/index.ts";
export * from "./target/index.ts";
