/**
 * The committed duplications of every table (available or dropped: a recalled table gets its
 * duplications back), by app id and dupid. Iteration is sorted, so every decision and view is
 * deterministic. A removed duplication leaves the registry when its removal is persisted; the
 * re-sync mark it may have left on its remote table stays here until removed (orphan-marks.ts).
 */
import { assert } from "../../../common/assert.ts";
import type { Duplication, DuplicationRecord } from "./duplication.ts";
import { type OrphanMark, orphanMarkKey } from "./orphan-marks.ts";

export class DuplicationRegistry {
  private dupidFloor = 0;
  private readonly byApp = new Map<number, Map<number, Duplication>>();
  private readonly orphans = new Map<string, OrphanMark>();

  get(appId: number, dupid: number): Duplication | undefined {
    return this.byApp.get(appId)?.get(dupid);
  }

  /** The duplications of one table, by dupid. */
  ofApp(appId: number): Duplication[] {
    return [...(this.byApp.get(appId)?.values() ?? [])].sort((a, b) => a.dupid - b.dupid);
  }

  /** Every duplication, by app id then dupid. */
  all(): Duplication[] {
    return [...this.byApp.keys()].sort((a, b) => a - b).flatMap((appId) => this.ofApp(appId));
  }

  get size(): number {
    let count = 0;
    for (const dups of this.byApp.values()) count += dups.size;
    return count;
  }

  insert(dup: Duplication): void {
    let dups = this.byApp.get(dup.appId);
    if (dups === undefined) {
      dups = new Map();
      this.byApp.set(dup.appId, dups);
    }
    assert(!dups.has(dup.dupid), `duplication ${dup.appId}/${dup.dupid} inserted twice`);
    dups.set(dup.dupid, dup);
  }

  delete(dup: Duplication): void {
    const dups = this.byApp.get(dup.appId);
    dups?.delete(dup.dupid);
    if (dups?.size === 0) this.byApp.delete(dup.appId);
  }

  /** The table's records are gone from the store (an expired dropped table). */
  forgetApp(appId: number): void {
    this.byApp.delete(appId);
  }

  /**
   * Raises the smallest dupid the registry may report as used: the largest dupid ever issued for
   * a table, kept in its `duplication` node, covers duplications that were removed since.
   */
  raiseDupidFloor(dupid: number): void {
    this.dupidFloor = Math.max(this.dupidFloor, dupid);
  }

  /** The largest dupid held or ever issued (0 if none): new dupids are above it. */
  largestDupid(): number {
    let largest = this.dupidFloor;
    for (const dups of this.byApp.values())
      for (const dupid of dups.keys()) largest = Math.max(largest, dupid);
    return largest;
  }

  records(): DuplicationRecord[] {
    return this.all().map((dup) => dup.record());
  }

  /** Re-sync marks of removed duplications still to be removed, by app id then dupid. */
  orphanMarks(): OrphanMark[] {
    return [...this.orphans.values()].sort((a, b) => a.appId - b.appId || a.dupid - b.dupid);
  }

  orphanMark(key: string): OrphanMark | undefined {
    return this.orphans.get(key);
  }

  setOrphanMark(mark: OrphanMark): void {
    this.orphans.set(orphanMarkKey(mark), mark);
  }

  deleteOrphanMark(key: string): void {
    this.orphans.delete(key);
  }
}
