/**
 * Leader election for a store only one meta server can open (the embedded store): the one
 * candidate leads from its campaign until it resigns. Leadership is never lost otherwise.
 */
import { TalariaError } from "../../common/errors.ts";
import type { LeaderElection } from "./meta-store.ts";

export class SingleCandidateElection implements LeaderElection {
  readonly address: string;
  private leading = false;
  private closed = false;

  constructor(address: string) {
    this.address = address;
  }

  campaign(): Promise<void> {
    if (this.closed) {
      return Promise.reject(
        new TalariaError("ERR_INVALID_STATE", "campaign on an election whose store is closed"),
      );
    }
    this.leading = true;
    return Promise.resolve();
  }

  isLeader(): boolean {
    return this.leading;
  }

  leader(): Promise<string | undefined> {
    return Promise.resolve(this.leading ? this.address : undefined);
  }

  onLost(_callback: (reason: string) => void): void {
    // Nothing can take the leadership away from the only candidate.
  }

  resign(): Promise<void> {
    this.leading = false;
    return Promise.resolve();
  }

  /** The store closed: resign for good. */
  close(): void {
    this.leading = false;
    this.closed = true;
  }
}
