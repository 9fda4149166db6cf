/**
 * What the checkers watch while a run goes on: every client write (sent, acknowledged with its
 * decree), every APPLY on every replica, and every core snapshot after every step. Online checks
 * (the first violation is kept, with the time it happened):
 *
 *  - state machine safety: every replica applies the same mutation at a given (gpid, decree);
 *  - commit points never regress within one incarnation of a replica, and storage's applied
 *    decree never regresses across crashes (it is durable);
 *  - at most one replica (node and incarnation) ever acts as active primary of a (gpid, ballot),
 *    and no two nodes hold PRIMARY status for the same (gpid, ballot);
 *  - no replica ever enters ERROR (an invariant the protocol says cannot break).
 */
import type { Mutation } from "../codec/mutation.ts";
import { UpdateKind } from "../codec/mutation.ts";
import type { Gpid, NodeAddress } from "../protocol/ids.ts";
import { gpidKey } from "../protocol/ids.ts";
import { ReplicaStatus } from "../protocol/partition-config.ts";
import type { ReplicaCoreSnapshot } from "../replication/index.ts";

export interface WriteRecord {
  readonly id: number;
  readonly client: NodeAddress;
  readonly key: string;
  readonly value: string;
  readonly gpid: Gpid;
  readonly firstSentAtMs: number;
  ackedAtMs?: number;
  decree?: number;
}

export class History {
  readonly writes: WriteRecord[] = [];
  private readonly applied = new Map<string, Map<number, string>>();
  private readonly committed = new Map<string, number>();
  private readonly storageApplied = new Map<string, number>();
  private readonly activePrimaries = new Map<string, string>();
  private readonly primaryStatus = new Map<string, NodeAddress>();
  private firstViolation: string | undefined;
  applyCount = 0;
  /** Counters of interesting events, reported in the run's stats (coverage at a glance). */
  readonly counters = new Map<string, number>();

  constructor(private readonly now: () => number) {}

  get violation(): string | undefined {
    return this.firstViolation;
  }

  fail(message: string): void {
    this.firstViolation ??= `t=${this.now()}ms: ${message}`;
  }

  recordApply(node: NodeAddress, gpid: Gpid, mutation: Mutation): void {
    this.applyCount++;
    const key = gpidKey(gpid);
    let decrees = this.applied.get(key);
    if (decrees === undefined) {
      decrees = new Map();
      this.applied.set(key, decrees);
    }
    const print = fingerprint(mutation);
    const seen = decrees.get(mutation.decree);
    if (seen === undefined) decrees.set(mutation.decree, print);
    else if (seen !== print) {
      this.fail(
        `${node} applied a different mutation at ${key}#${mutation.decree}: ${print} vs ${seen}`,
      );
    }
    const storageKey = `${node}/${key}`;
    const previous = this.storageApplied.get(storageKey) ?? 0;
    this.storageApplied.set(storageKey, Math.max(previous, mutation.decree));
  }

  /** A checkpoint install moves storage forward without applies. */
  count(what: string): void {
    this.counters.set(what, (this.counters.get(what) ?? 0) + 1);
  }

  recordInstall(node: NodeAddress, gpid: Gpid, decree: number): void {
    this.count("checkpointInstalls");
    const storageKey = `${node}/${gpidKey(gpid)}`;
    const previous = this.storageApplied.get(storageKey) ?? 0;
    if (decree < previous)
      this.fail(`${node} installed checkpoint ${decree} below applied ${previous}`);
    this.storageApplied.set(storageKey, Math.max(previous, decree));
  }

  observe(node: NodeAddress, incarnation: number, gpid: Gpid, snapshot: ReplicaCoreSnapshot): void {
    const key = gpidKey(gpid);
    const replicaKey = `${node}#${incarnation}/${key}`;
    const before = this.committed.get(replicaKey) ?? 0;
    if (snapshot.lastCommittedDecree < before) {
      this.fail(`${replicaKey} commit point regressed ${before} → ${snapshot.lastCommittedDecree}`);
    }
    this.committed.set(replicaKey, snapshot.lastCommittedDecree);
    const storageApplied = this.storageApplied.get(`${node}/${key}`) ?? 0;
    if (snapshot.lastAppliedDecree < storageApplied) {
      this.fail(
        `${node}/${key} applied decree regressed ${storageApplied} → ${snapshot.lastAppliedDecree}`,
      );
    }
    if (snapshot.status === ReplicaStatus.ERROR) {
      this.fail(`${node}/${key} entered ERROR: ${snapshot.errorReason ?? "?"}`);
    }
    const ballotKey = `${key}@${snapshot.ballot}`;
    if (snapshot.status === ReplicaStatus.PRIMARY) {
      const holder = this.primaryStatus.get(ballotKey);
      if (holder === undefined) this.primaryStatus.set(ballotKey, node);
      else if (holder !== node) this.fail(`two primaries at ${ballotKey}: ${holder} and ${node}`);
    }
    if (snapshot.primaryActive) {
      const owner = `${node}#${incarnation}`;
      const holder = this.activePrimaries.get(ballotKey);
      if (holder === undefined) this.activePrimaries.set(ballotKey, owner);
      else if (holder !== owner)
        this.fail(`two active primaries at ${ballotKey}: ${holder} and ${owner}`);
    }
  }
}

function fingerprint(mutation: Mutation): string {
  const parts = [`${mutation.ballot}`, `${mutation.timestampUs}`];
  for (const update of mutation.updates) {
    if (update.kind === UpdateKind.PUT)
      parts.push(`${update.hashKey.toString()}=${update.value.toString()}`);
    else parts.push(`kind${update.kind}`);
  }
  return parts.join("|");
}
