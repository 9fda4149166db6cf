/**
 * The newest records of the logical log, kept in memory so the readers that follow the tail read
 * no file: a duplication shipper reads what was just committed many times a second, and each read
 * from disk is an open, a read-ahead window and a close on the thread pool.
 *
 * Invariants:
 *  - It holds a suffix of the logical log (decree-ledger.ts) as the ledger has it at every call:
 *    PrivateLog calls append, truncateAfter and reset exactly where it changes the ledger, so what
 *    it returns is what the disk holds once the ledger's durableDecree covers it.
 *  - At most `bytesMax` record bytes (recordBytes: header + payload); the oldest go first. A
 *    record larger than that is not kept, and neither is anything before it.
 *  - `read` answers only when every record of the range is here (the range starts at or above
 *    the first record kept); otherwise it returns undefined and the caller reads the disk.
 */
import { type LogRecord, recordBytes } from "./format.ts";

export class TailCache {
  private records: LogRecord[] = [];
  /** Records before this index are evicted (compacted lazily). */
  private head = 0;
  private bytes = 0;

  constructor(private readonly bytesMax: number) {}

  /** The ledger took `record` at the end of the log. */
  append(record: LogRecord): void {
    const size = recordBytes(record.payload.length);
    if (size > this.bytesMax) {
      this.reset();
      return;
    }
    this.records.push(record);
    this.bytes += size;
    while (this.bytes > this.bytesMax) {
      this.bytes -= recordBytes((this.records[this.head] as LogRecord).payload.length);
      this.head++;
    }
    if (this.head >= 1024 && this.head * 2 >= this.records.length) {
      this.records = this.records.slice(this.head);
      this.head = 0;
    }
  }

  /** The ledger discarded every record above `decree`. */
  truncateAfter(decree: number): void {
    while (this.records.length > this.head) {
      const last = this.records[this.records.length - 1] as LogRecord;
      if (last.decree <= decree) return;
      this.records.pop();
      this.bytes -= recordBytes(last.payload.length);
    }
  }

  /** The ledger emptied the log. */
  reset(): void {
    this.records = [];
    this.head = 0;
    this.bytes = 0;
  }

  /**
   * Records with fromDecree <= decree <= toDecree in order, until their payload bytes reach
   * bytesMax (at least one), exactly as log-reader.ts's readRecords returns them; undefined when
   * records of the range may lie before the first one kept.
   */
  read(fromDecree: number, toDecree: number, bytesMax: number): LogRecord[] | undefined {
    const first = this.records[this.head];
    if (first === undefined || fromDecree < first.decree) return undefined;
    const out: LogRecord[] = [];
    let payloadBytes = 0;
    for (let i = this.lowerBound(fromDecree); i < this.records.length; i++) {
      const record = this.records[i] as LogRecord;
      if (record.decree > toDecree) break;
      const bytes = record.payload.length;
      if (out.length > 0 && payloadBytes + bytes > bytesMax) break;
      out.push(record);
      payloadBytes += bytes;
      if (payloadBytes >= bytesMax) break;
    }
    return out;
  }

  /** Record bytes held (for tests and the bound's check). */
  get heldBytes(): number {
    return this.bytes;
  }

  /** Index of the first record kept with decree >= `decree` (records.length if none). */
  private lowerBound(decree: number): number {
    let lo = this.head;
    let hi = this.records.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.records[mid] as LogRecord).decree < decree) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
