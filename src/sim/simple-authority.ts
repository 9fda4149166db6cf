/**
 * A small in-simulator meta server (ConfigAuthority), kept to compare against the real meta core
 * (`--meta simple`) and to host a test-only bug:
 *
 *  - A node is alive while its last beacon arrived less than graceMs ago; the lease it is
 *    granted (leaseMs from the beacon's sending) is shorter, so a cut-off primary stops serving
 *    before it is replaced.
 *  - A partition whose primary is dead, reports ERROR, or reports a status other than PRIMARY at
 *    the configuration's ballot (a restarted primary refuses its old ballot) gets a new primary:
 *    the live member with the largest lastPreparedDecree in its latest report, ballot + 1. Only
 *    members of the latest configuration are ever promoted; with none alive, the partition waits.
 *  - Dead (or ERROR) secondaries of a partition with a healthy primary are removed (ballot + 1).
 *  - A partition with fewer members than its replica count gets a learner proposed on a live
 *    non-member (the least loaded), re-proposed after proposalTtlMs.
 *  - UPDATE_CONFIGURATION is accepted only from the primary at the current ballot.
 */
import type { Gpid, NodeAddress } from "../protocol/ids.ts";
import { gpidKey } from "../protocol/ids.ts";
import type {
  BeaconRequest,
  BeaconResponse,
  LearnerProposal,
  QueryConfigurationResponse,
  UpdateConfigurationRequest,
} from "../protocol/meta-messages.ts";
import {
  type AppInfo,
  type PartitionConfiguration,
  type ReplicaReport,
  ReplicaStatus,
} from "../protocol/partition-config.ts";
import type { ConfigAuthority, UpdateConfigurationResult } from "./config-authority.ts";

export interface SimpleAuthorityOptions {
  readonly nodes: readonly NodeAddress[];
  readonly app: AppInfo;
  readonly leaseMs: number;
  readonly graceMs: number;
  readonly proposalTtlMs: number;
  /** Test-only bug: promote any live replica of the partition, not only members. */
  readonly promoteNonMembers?: boolean;
}

interface Proposal {
  readonly learner: NodeAddress;
  readonly ballot: number;
  readonly atMs: number;
}

export class SimpleConfigAuthority implements ConfigAuthority {
  private readonly configs = new Map<string, PartitionConfiguration>();
  private readonly lastBeaconAtMs = new Map<NodeAddress, number>();
  private readonly reports = new Map<NodeAddress, Map<string, ReplicaReport>>();
  private readonly proposals = new Map<string, Proposal>();
  /** Every configuration ever issued, for the checkers. */
  readonly history: PartitionConfiguration[] = [];

  constructor(private readonly options: SimpleAuthorityOptions) {
    const { app, nodes } = options;
    for (let index = 0; index < app.partitionCount; index++) {
      const members = Array.from(
        { length: Math.min(app.replicaCount, nodes.length) },
        (_, i) => nodes[(index + i) % nodes.length] as NodeAddress,
      );
      const [primary, ...secondaries] = members;
      this.install({
        gpid: { appId: app.appId, partitionIndex: index },
        ballot: 1,
        ...(primary === undefined ? {} : { primary }),
        secondaries,
        maxReplicaCount: app.replicaCount,
        lastCommittedDecree: 0,
      });
    }
  }

  configurations(): readonly PartitionConfiguration[] {
    return [...this.configs.values()];
  }

  onBeacon(request: BeaconRequest, nowMs: number): BeaconResponse {
    this.lastBeaconAtMs.set(request.node, nowMs);
    this.reports.set(request.node, new Map(request.replicas.map((r) => [gpidKey(r.gpid), r])));
    const configs: PartitionConfiguration[] = [];
    const learnerProposals: LearnerProposal[] = [];
    for (const [key, config] of this.configs) {
      if (config.primary !== request.node && !config.secondaries.includes(request.node)) continue;
      configs.push(config);
      const proposal = this.proposals.get(key);
      if (
        config.primary === request.node &&
        proposal !== undefined &&
        proposal.ballot === config.ballot
      ) {
        learnerProposals.push({
          gpid: config.gpid,
          learner: proposal.learner,
          ballot: proposal.ballot,
        });
      }
    }
    return { leaseMs: this.options.leaseMs, configs, apps: [this.options.app], learnerProposals };
  }

  onUpdateConfiguration(
    request: UpdateConfigurationRequest,
    nowMs: number,
    reply: (result: UpdateConfigurationResult) => void,
  ): void {
    reply(this.updateConfiguration(request, nowMs));
  }

  private updateConfiguration(
    request: UpdateConfigurationRequest,
    nowMs: number,
  ): UpdateConfigurationResult {
    const key = gpidKey(request.gpid);
    const config = this.configs.get(key);
    if (config === undefined) return { ok: false, code: "ERR_OBJECT_NOT_FOUND" };
    if (request.ballot !== config.ballot || request.node !== config.primary) {
      return { ok: false, code: "ERR_INVALID_STATE", config };
    }
    const change = request.change;
    let secondaries: NodeAddress[];
    switch (change.type) {
      case "REMOVE_SECONDARY":
        if (!config.secondaries.includes(change.node))
          return { ok: false, code: "ERR_INVALID_STATE", config };
        secondaries = config.secondaries.filter((n) => n !== change.node);
        break;
      case "ADD_SECONDARY":
        if (
          change.node === config.primary ||
          config.secondaries.includes(change.node) ||
          !this.alive(change.node, nowMs)
        ) {
          return { ok: false, code: "ERR_INVALID_STATE", config };
        }
        secondaries = [...config.secondaries, change.node];
        this.proposals.delete(key);
        break;
    }
    const next = this.next(config, config.primary, secondaries);
    return { ok: true, response: { config: next } };
  }

  onQueryConfiguration(): QueryConfigurationResponse {
    return { app: this.options.app, partitions: this.configurations() };
  }

  tick(nowMs: number): void {
    // Give every server one grace period to send its first beacon before judging anyone.
    if (nowMs < this.options.graceMs) return;
    for (const [key, config] of [...this.configs]) this.maintain(key, config, nowMs);
  }

  // -------------------------------------------------------------------------------------------

  private maintain(key: string, config: PartitionConfiguration, nowMs: number): void {
    const healthy = (node: NodeAddress) =>
      this.alive(node, nowMs) && this.report(node, config.gpid)?.status !== ReplicaStatus.ERROR;
    const primary = config.primary;
    if (primary === undefined || !healthy(primary) || this.primaryRefuses(primary, config)) {
      this.promote(config, nowMs);
      return;
    }
    const liveSecondaries = config.secondaries.filter(healthy);
    if (liveSecondaries.length < config.secondaries.length) {
      this.next(config, primary, liveSecondaries);
      return;
    }
    const members = 1 + config.secondaries.length;
    if (members >= config.maxReplicaCount) return;
    const proposal = this.proposals.get(key);
    if (
      proposal !== undefined &&
      proposal.ballot === config.ballot &&
      nowMs - proposal.atMs < this.options.proposalTtlMs &&
      healthy(proposal.learner)
    ) {
      return;
    }
    const candidates = this.options.nodes.filter(
      (n) =>
        n !== primary && !config.secondaries.includes(n) && healthy(n) && n !== proposal?.learner,
    );
    const fallback = proposal !== undefined && healthy(proposal.learner) ? [proposal.learner] : [];
    const pool = candidates.length > 0 ? candidates : fallback;
    const learner = pool.sort((a, b) => this.load(a) - this.load(b) || (a < b ? -1 : 1))[0];
    if (learner === undefined) return;
    this.proposals.set(key, { learner, ballot: config.ballot, atMs: nowMs });
  }

  /** A primary that reports itself not primary at (or past) the config's ballot is not serving. */
  private primaryRefuses(primary: NodeAddress, config: PartitionConfiguration): boolean {
    const report = this.report(primary, config.gpid);
    return (
      report !== undefined &&
      report.ballot >= config.ballot &&
      report.status !== ReplicaStatus.PRIMARY
    );
  }

  private promote(config: PartitionConfiguration, nowMs: number): void {
    const members =
      this.options.promoteNonMembers === true
        ? this.options.nodes.filter((n) => this.report(n, config.gpid) !== undefined)
        : [...(config.primary === undefined ? [] : [config.primary]), ...config.secondaries];
    const live = members.filter(
      (n) =>
        this.alive(n, nowMs) &&
        this.report(n, config.gpid) !== undefined &&
        this.report(n, config.gpid)?.status !== ReplicaStatus.ERROR,
    );
    if (live.length === 0) return; // wait for a member to come back
    const decree = (n: NodeAddress) => this.report(n, config.gpid)?.lastPreparedDecree ?? 0;
    const chosen = [...live].sort(
      (a, b) => decree(b) - decree(a) || (a < b ? -1 : 1),
    )[0] as NodeAddress;
    this.next(
      config,
      chosen,
      live.filter((n) => n !== chosen),
    );
  }

  private next(
    config: PartitionConfiguration,
    primary: NodeAddress | undefined,
    secondaries: NodeAddress[],
  ): PartitionConfiguration {
    let committed = config.lastCommittedDecree;
    for (const reports of this.reports.values()) {
      committed = Math.max(committed, reports.get(gpidKey(config.gpid))?.lastCommittedDecree ?? 0);
    }
    const next: PartitionConfiguration = {
      gpid: config.gpid,
      ballot: config.ballot + 1,
      ...(primary === undefined ? {} : { primary }),
      secondaries,
      maxReplicaCount: config.maxReplicaCount,
      lastCommittedDecree: committed,
    };
    this.install(next);
    return next;
  }

  private install(config: PartitionConfiguration): void {
    this.configs.set(gpidKey(config.gpid), config);
    this.history.push(config);
  }

  private alive(node: NodeAddress, nowMs: number): boolean {
    const last = this.lastBeaconAtMs.get(node);
    return last !== undefined && nowMs - last < this.options.graceMs;
  }

  private report(node: NodeAddress, gpid: Gpid): ReplicaReport | undefined {
    return this.reports.get(node)?.get(gpidKey(gpid));
  }

  private load(node: NodeAddress): number {
    let count = 0;
    for (const config of this.configs.values()) {
      if (config.primary === node || config.secondaries.includes(node)) count++;
    }
    return count;
  }
}
