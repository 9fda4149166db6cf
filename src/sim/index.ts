/**
 * The deterministic simulator: seeded PRNG, virtual time, a faulty network, replica servers
 * hosting the real replication core on simulated disks, clients, an in-sim meta server behind
 * the ConfigAuthority interface, and the checkers. See docs/replication.md.
 */
export type { ConfigAuthority, UpdateConfigurationResult } from "./config-authority.ts";
export { EventQueue } from "./event-queue.ts";
export { Prng } from "./prng.ts";
export type { HarnessBugs } from "./replica-server.ts";
export { type SimpleAuthorityOptions, SimpleConfigAuthority } from "./simple-authority.ts";
export {
  runSimulation,
  type SimulationOptions,
  type SimulationResult,
  simReplicationOptions,
} from "./simulation.ts";
