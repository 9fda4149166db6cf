/**
 * The in-memory index of the plog: segments in log order, each with its decree range, its durable
 * size and a sparse list of seek points (block offset + first decree), one at most every
 * `indexIntervalBytes`, so seeking costs at most that many bytes of block headers to skip while
 * the index stays small (a 32 MiB segment at 64 KiB per point holds ~512 points).
 *
 * Invariants:
 * - segments are in sequence order, sequences consecutive, decree ranges strictly increasing;
 * - every segment except possibly the last holds at least one block;
 * - only the first segment may be a floor segment (format.ts); only a floor segment's first block
 *   may start above its first decree;
 * - `durableBytes` only covers blocks that were written and synced (or validated on open); readers
 *   never look past it. It grows with appends and shrinks only when a truncation cuts the segment,
 *   which readers are kept out of (read-gate.ts).
 */
import { assert } from "../common/assert.ts";
import { NONCE_BYTES, SEGMENT_HEADER_BYTES } from "./format.ts";

export interface SeekPoint {
  readonly offset: number;
  readonly firstDecree: number;
}

export class Segment {
  readonly sequence: number;
  readonly fileName: string;
  readonly firstDecree: number;
  /** From the segment header; every block of the segment is sealed with it (format.ts). */
  readonly nonce: Buffer;
  /** A floor segment: firstDecree is the log's floor, not necessarily a record's decree. */
  readonly isFloor: boolean;
  lastDecree: number;
  durableBytes: number;
  blockCount = 0;
  /** Records in the durable blocks. */
  recordCount = 0;
  private readonly seekPoints: SeekPoint[] = [];
  private readonly indexIntervalBytes: number;

  constructor(options: {
    sequence: number;
    fileName: string;
    firstDecree: number;
    nonce: Buffer;
    indexIntervalBytes: number;
    isFloor?: boolean;
  }) {
    assert(options.nonce.length === NONCE_BYTES, "a segment nonce is NONCE_BYTES long");
    this.sequence = options.sequence;
    this.fileName = options.fileName;
    this.firstDecree = options.firstDecree;
    this.nonce = options.nonce;
    this.isFloor = options.isFloor ?? false;
    this.lastDecree = options.firstDecree - 1;
    this.durableBytes = SEGMENT_HEADER_BYTES;
    this.indexIntervalBytes = options.indexIntervalBytes;
  }

  /** Records a block that is now durable at `offset`, directly after the previous one. */
  addBlock(block: {
    offset: number;
    bytes: number;
    firstDecree: number;
    lastDecree: number;
    recordCount: number;
  }): void {
    assert(block.offset === this.durableBytes, "blocks are added back to back");
    assert(block.firstDecree > this.lastDecree, "block decrees increase across blocks");
    assert(
      this.blockCount > 0 ||
        block.firstDecree === this.firstDecree ||
        (this.isFloor && block.firstDecree > this.firstDecree),
      "first block opens segment",
    );
    assert(block.lastDecree >= block.firstDecree, "block decree range is ordered");
    assert(block.recordCount >= 1, "a block holds at least one record");
    const lastPoint = this.seekPoints[this.seekPoints.length - 1];
    if (lastPoint === undefined || block.offset - lastPoint.offset >= this.indexIntervalBytes) {
      this.seekPoints.push({ offset: block.offset, firstDecree: block.firstDecree });
    }
    this.durableBytes += block.bytes;
    this.lastDecree = block.lastDecree;
    this.blockCount += 1;
    this.recordCount += block.recordCount;
  }

  /** Decree of the segment's first record; undefined while it holds none. */
  get firstRecordDecree(): number | undefined {
    // The first block always becomes a seek point.
    return this.seekPoints[0]?.firstDecree;
  }

  /**
   * A truncation cut the file at `offset`, the start of a block, and wrote `replacement` there if
   * it is not null: forgets every block from `offset` on (`blocks` blocks, `records` records) and
   * adds the replacement. `lastDecreeBefore` is the last decree before `offset`; without a
   * replacement it becomes the segment's last decree (unused when no block is left).
   */
  cutAt(cut: {
    offset: number;
    blocks: number;
    records: number;
    lastDecreeBefore: number | undefined;
    replacement: {
      bytes: number;
      firstDecree: number;
      lastDecree: number;
      recordCount: number;
    } | null;
  }): void {
    assert(cut.offset >= SEGMENT_HEADER_BYTES && cut.offset <= this.durableBytes, "cut inside");
    assert(cut.blocks <= this.blockCount && cut.records <= this.recordCount, "cut counts fit");
    const kept = this.seekPoints.filter((point) => point.offset < cut.offset);
    this.seekPoints.length = 0;
    this.seekPoints.push(...kept);
    this.durableBytes = cut.offset;
    this.blockCount -= cut.blocks;
    this.recordCount -= cut.records;
    assert((this.blockCount === 0) === (kept.length === 0), "blocks left iff seek points left");
    const { replacement } = cut;
    if (this.blockCount === 0) {
      this.lastDecree = this.firstDecree - 1;
    } else {
      // With a replacement the decree before it only has to be below it; addBlock sets the last.
      const before = replacement === null ? cut.lastDecreeBefore : replacement.firstDecree - 1;
      assert(before !== undefined && before <= this.lastDecree, "a cut never adds decrees");
      this.lastDecree = before;
    }
    if (replacement !== null) this.addBlock({ offset: cut.offset, ...replacement });
  }

  /**
   * Durable bytes from the block that may hold `decree` to the segment's end: never fewer than the
   * bytes of its records from `decree` on, and at most one seek interval and one block more.
   */
  bytesFrom(decree: number): number {
    if (decree > this.lastDecree) return 0;
    if (decree <= this.firstDecree) return this.durableBytes;
    return this.durableBytes - this.seekOffset(decree);
  }

  /** Offset of a block at or before the first block that may hold `decree`. */
  seekOffset(decree: number): number {
    let low = 0;
    let high = this.seekPoints.length - 1;
    let found = SEGMENT_HEADER_BYTES;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const point = this.seekPoints[middle];
      assert(point !== undefined, "binary search stays in range");
      if (point.firstDecree <= decree) {
        found = point.offset;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found;
  }
}

export class SegmentTable {
  private segments: Segment[] = [];

  get length(): number {
    return this.segments.length;
  }

  first(): Segment | undefined {
    return this.segments[0];
  }

  last(): Segment | undefined {
    return this.segments[this.segments.length - 1];
  }

  all(): readonly Segment[] {
    return this.segments;
  }

  push(segment: Segment): void {
    const last = this.last();
    if (last !== undefined) {
      assert(segment.sequence === last.sequence + 1, "segment sequences are consecutive");
      assert(last.blockCount > 0, "only the last segment may be empty");
      assert(segment.firstDecree > last.lastDecree, "segment decrees increase");
      assert(!segment.isFloor, "only the first segment may be a floor segment");
    }
    this.segments.push(segment);
  }

  /** Drops the last segment (an empty one recovery removes). */
  popLast(): Segment | undefined {
    return this.segments.pop();
  }

  /** Removes from the index, and returns, every segment after the one with `sequence`. */
  takeAfter(sequence: number): Segment[] {
    const index = this.segments.findIndex((segment) => segment.sequence === sequence);
    assert(index >= 0, "the segment kept is in the index");
    return this.segments.splice(index + 1);
  }

  /** Removes every segment from the index and returns them. */
  takeAll(): Segment[] {
    return this.segments.splice(0);
  }

  /** Segments from the one that may hold `decree` onward: a snapshot, safe against GC and rolls. */
  segmentsFrom(decree: number): Segment[] {
    let low = 0;
    let high = this.segments.length - 1;
    let found = 0;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const segment = this.segments[middle];
      assert(segment !== undefined, "binary search stays in range");
      if (segment.firstDecree <= decree) {
        found = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return this.segments.slice(found);
  }

  /**
   * Removes from the index, and returns, the leading segments whose every record is below
   * `belowDecree`. Never the last (active) segment, so never the one holding `belowDecree`.
   */
  takeBelow(belowDecree: number): Segment[] {
    let count = 0;
    while (count < this.segments.length - 1) {
      const segment = this.segments[count];
      assert(segment !== undefined, "count stays in range");
      if (segment.lastDecree >= belowDecree) break;
      count += 1;
    }
    return this.segments.splice(0, count);
  }
}
