/**
 * The deterministic multi-cluster duplication simulator: clusters of partitions (in-memory LWW
 * stores and logs, hybrid clocks on skewed wall clocks) joined by faulty links, with the real
 * duplication source core shipping between them and checkers for convergence. See
 * docs/duplication.md, "Simulation".
 */
export {
  type CheckedCluster,
  checkAcknowledgedWrites,
  checkIdentical,
  checkPlacement,
  type ExpectedValue,
  fullDump,
} from "./dup-checker.ts";
export {
  type DupSimulationOptions,
  type DupSimulationResult,
  runDupSimulation,
} from "./dup-simulation.ts";
export { MemoryRecordStore } from "./memory-record-store.ts";
export { SimPartition } from "./sim-partition.ts";
export type { DupBugs } from "./sim-shipper.ts";
