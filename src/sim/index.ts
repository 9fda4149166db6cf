/**
 * The deterministic simulator: seeded PRNG, virtual time, a faulty network, replica servers
 * hosting the real replication core on simulated disks, clients, the real meta core (or a small
 * in-sim stand-in) behind the ConfigAuthority interface, and the checkers. See docs/replication.md.
 */
export type { ConfigAuthority, UpdateConfigurationResult } from "./config-authority.ts";
export { EventQueue } from "./event-queue.ts";
export {
  MetaCoreAuthority,
  type MetaCoreAuthorityDeps,
  type MetaCoreAuthorityOptions,
} from "./meta-core-authority.ts";
export { Prng } from "./prng.ts";
export type { HarnessBugs } from "./replica-server.ts";
export { type SimpleAuthorityOptions, SimpleConfigAuthority } from "./simple-authority.ts";
export {
  runSimulation,
  type SimMetaKind,
  type SimulationOptions,
  type SimulationResult,
  simMetaCoreOptions,
  simReplicationOptions,
} from "./simulation.ts";
