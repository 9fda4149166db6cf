/**
 * Leader election on ZooKeeper, the standard recipe: each candidate creates an ephemeral sequential
 * node `<electionPath>/candidate-<token>-<seq>` holding its address; the smallest sequence leads;
 * every other candidate watches only its predecessor (no herd effect) and re-checks when it goes.
 *
 * Invariants:
 *   - A candidate is leader only while its node exists in a live session: the node is ephemeral, a
 *     lost session (zk-session.ts) ends the leadership and runs the onLost callbacks, and so does
 *     the node being deleted by someone else.
 *   - `<token>` is random per campaign, so after a create whose answer was lost (connection loss,
 *     timeout) the candidate finds its own node instead of creating a second one.
 *   - resign() and store close cancel a pending campaign (it rejects with ERR_INVALID_STATE).
 */
import { randomUUID } from "node:crypto";
import zookeeper from "node-zookeeper-client";
import { isTalariaError, TalariaError } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";
import { joinPath } from "./meta-path.ts";
import type { LeaderElection } from "./meta-store.ts";
import type { ZooKeeperSession } from "./zk-session.ts";

const PREFIX = "candidate-";
/** ZooKeeper appends a 10-digit sequence number to sequential nodes. */
const SEQUENCE_DIGITS = 10;
/** Attempts at creating our node when answers get lost, and at reading a vanishing leader. */
const ATTEMPTS_MAX = 3;

export interface ZooKeeperLeaderElectionOptions {
  readonly address: string;
  /** Store path under which candidates register. */
  readonly electionPath: string;
}

export interface ZooKeeperLeaderElectionDeps {
  readonly session: ZooKeeperSession;
  readonly logger: Logger;
}

type State = "idle" | "campaigning" | "leader" | "closed";

function sequenceOf(name: string): number {
  return Number(name.slice(-SEQUENCE_DIGITS));
}

/** Candidate node names in election order. */
function candidatesInOrder(names: readonly string[]): string[] {
  return names
    .filter((name) => name.startsWith(PREFIX))
    .sort((a, b) => sequenceOf(a) - sequenceOf(b));
}

function cancelled(why: string): TalariaError {
  return new TalariaError("ERR_INVALID_STATE", `campaign cancelled: ${why}`);
}

export class ZooKeeperLeaderElection implements LeaderElection {
  readonly address: string;
  private readonly electionPath: string;
  private readonly session: ZooKeeperSession;
  private readonly logger: Logger;
  private state: State = "idle";
  /** Bumped by resign/loss/close: a campaign loop from an older generation stops. */
  private generation = 0;
  private node: string | undefined;
  private campaigning: Promise<void> | undefined;
  /** Wakes a campaign loop waiting on its predecessor (or being cancelled). */
  private wake: (() => void) | undefined;
  private readonly lostCallbacks: ((reason: string) => void)[] = [];
  private readonly stopListening: () => void;

  constructor(options: ZooKeeperLeaderElectionOptions, deps: ZooKeeperLeaderElectionDeps) {
    if (typeof options.address !== "string" || options.address === "") {
      throw new TalariaError("ERR_INVALID_PARAMETERS", "election candidate address is empty");
    }
    this.address = options.address;
    this.electionPath = options.electionPath;
    this.session = deps.session;
    this.logger = deps.logger.child({ election: options.electionPath, address: options.address });
    this.stopListening = this.session.onLost((reason) => this.end(reason, "lost"));
  }

  campaign(): Promise<void> {
    if (this.state === "closed") return Promise.reject(cancelled("the store is closed"));
    if (this.state === "idle") {
      this.state = "campaigning";
      const generation = this.generation;
      this.campaigning = this.run(generation);
      // Whoever awaits campaign() sees a failure; nobody else needs to.
      this.campaigning.catch(() => undefined);
    }
    return this.campaigning ?? Promise.reject(cancelled("no campaign"));
  }

  isLeader(): boolean {
    return this.state === "leader";
  }

  async leader(): Promise<string | undefined> {
    for (let attempt = 0; attempt < ATTEMPTS_MAX; attempt++) {
      let names: string[];
      try {
        names = await this.session.getChildren(this.electionPath);
      } catch (error) {
        if (isTalariaError(error, "ERR_OBJECT_NOT_FOUND")) return undefined;
        throw error;
      }
      const first = candidatesInOrder(names)[0];
      if (first === undefined) return undefined;
      const data = await this.session.getData(joinPath(this.electionPath, first));
      // Undefined: the leader went between the two reads; look again.
      if (data !== undefined) return data.toString("utf8");
    }
    throw new TalariaError("ERR_INVALID_STATE", "the leader changed during every read", {
      details: { electionPath: this.electionPath },
    });
  }

  onLost(callback: (reason: string) => void): void {
    this.lostCallbacks.push(callback);
  }

  async resign(): Promise<void> {
    if (this.state === "closed") return;
    const node = this.node;
    this.end("resigned", "resigned");
    if (node !== undefined) await this.removeQuietly(node);
  }

  private async removeQuietly(node: string): Promise<void> {
    try {
      await this.session.remove(joinPath(this.electionPath, node));
    } catch (error) {
      // Gone already, or the session is; either way the node does not outlive it.
      if (!isTalariaError(error)) throw error;
      this.logger.debug({ node, code: error.code }, "could not remove the election node");
    }
  }

  /** The store is closing (its session ends, taking the node with it). */
  shutdown(): void {
    this.end("the store is closed", "resigned");
    this.state = "closed";
    this.stopListening();
  }

  /** Leaves the current campaign or leadership; `lost` runs the onLost callbacks if leading. */
  private end(reason: string, how: "lost" | "resigned"): void {
    if (this.state === "closed") return;
    const wasLeader = this.state === "leader";
    this.state = "idle";
    this.generation++;
    this.node = undefined;
    this.campaigning = undefined;
    this.wake?.();
    if (wasLeader && how === "lost") {
      this.logger.error({ reason }, "leadership lost");
      for (const callback of this.lostCallbacks) callback(reason);
    }
  }

  private checkCurrent(generation: number): void {
    if (generation !== this.generation) throw cancelled("resigned, lost or closed meanwhile");
  }

  private async run(generation: number): Promise<void> {
    try {
      await this.runCampaign(generation);
    } catch (error) {
      // A failed campaign leaves the election idle (and its node removed) so it can be retried.
      if (generation === this.generation) {
        const node = this.node;
        this.end("campaign failed", "resigned");
        if (node !== undefined) await this.removeQuietly(node);
      }
      throw error;
    }
  }

  private async runCampaign(generation: number): Promise<void> {
    await this.createDir();
    this.checkCurrent(generation);
    const node = await this.createNode(generation);
    if (generation !== this.generation) {
      await this.removeQuietly(node);
      throw cancelled("resigned, lost or closed meanwhile");
    }
    this.node = node;
    this.logger.info({ node }, "campaigning");
    for (;;) {
      const names = candidatesInOrder(await this.session.getChildren(this.electionPath));
      this.checkCurrent(generation);
      const mine = names.indexOf(node);
      if (mine < 0) {
        this.end("election node deleted", "resigned");
        throw cancelled(`election node ${node} was deleted`);
      }
      const predecessor = names[mine - 1];
      if (predecessor === undefined) {
        if (!(await this.watchOwnNode(node, generation))) {
          throw cancelled(`election node ${node} was deleted`);
        }
        // A deletion seen by the watch before this point bumped the generation.
        this.checkCurrent(generation);
        this.state = "leader";
        this.logger.info({ node }, "became leader");
        return;
      }
      let wake = () => {};
      const woken = new Promise<void>((resolve) => {
        wake = resolve;
      });
      this.wake = wake;
      const present = await this.session.exists(joinPath(this.electionPath, predecessor), wake);
      if (present) await woken;
      this.wake = undefined;
      this.checkCurrent(generation);
    }
  }

  /** Creates the election directory and any missing ancestor (a cluster's root may be new). */
  private async createDir(): Promise<void> {
    const segments = this.electionPath.split("/").filter((segment) => segment !== "");
    for (let depth = 1; depth <= segments.length; depth++) {
      const path = `/${segments.slice(0, depth).join("/")}`;
      try {
        await this.session.create(path, Buffer.alloc(0), zookeeper.CreateMode.PERSISTENT);
      } catch (error) {
        if (!isTalariaError(error, "ERR_OBJECT_EXIST")) throw error;
      }
    }
  }

  private async createNode(generation: number): Promise<string> {
    const token = `${PREFIX}${randomUUID()}-`;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.session.create(
          joinPath(this.electionPath, token),
          Buffer.from(this.address, "utf8"),
          zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL,
        );
      } catch (error) {
        const unknownOutcome =
          isTalariaError(error, "ERR_NETWORK_FAILURE") || isTalariaError(error, "ERR_TIMEOUT");
        if (!unknownOutcome || attempt >= ATTEMPTS_MAX) throw error;
      }
      this.checkCurrent(generation);
      const names = await this.session.getChildren(this.electionPath);
      const created = names.find((name) => name.startsWith(token));
      if (created !== undefined) return created;
    }
  }

  /**
   * Watches our own node: its deletion by anyone else ends the leadership (or the campaign about
   * to win). Returns whether the node exists.
   */
  private async watchOwnNode(node: string, generation: number): Promise<boolean> {
    const path = joinPath(this.electionPath, node);
    const deleted = () => this.end(`election node ${node} was deleted`, "lost");
    const watcher = (event: zookeeper.Event) => {
      if (generation !== this.generation) return;
      if (event.getType() === zookeeper.Event.NODE_DELETED) return deleted();
      // Some other change (nobody should write it): keep watching.
      this.watchOwnNode(node, generation).then(
        (present) => {
          if (!present && generation === this.generation) deleted();
        },
        (error: unknown) => this.logger.warn({ error }, "cannot re-watch the election node"),
      );
    };
    return this.session.exists(path, watcher);
  }
}
