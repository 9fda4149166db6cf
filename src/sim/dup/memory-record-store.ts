/**
 * An in-memory RecordStore (storage/apply.ts's port): the simulator applies mutations with the
 * real applyMutation onto it, so last-write-wins, tombstones and timetags are exactly storage's.
 */
import type { RecordStore } from "../../storage/index.ts";

export class MemoryRecordStore implements RecordStore {
  private readonly records = new Map<string, { readonly key: Buffer; value: Buffer }>();

  get(key: Buffer): Buffer | undefined {
    return this.records.get(key.toString("hex"))?.value;
  }

  put(key: Buffer, value: Buffer): void {
    this.records.set(key.toString("hex"), { key: Buffer.from(key), value: Buffer.from(value) });
  }

  remove(key: Buffer): void {
    this.records.delete(key.toString("hex"));
  }

  /** Every stored record (tombstones included): stored key hex → stored value. */
  entries(): IterableIterator<[string, { readonly key: Buffer; value: Buffer }]> {
    return this.records.entries();
  }

  get size(): number {
    return this.records.size;
  }
}
