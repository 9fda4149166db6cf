/**
 * Writes flush groups to segment files. One group becomes one block per segment it touches; each
 * block is written with one positioned write and made durable with one fdatasync before the next
 * segment is created, which is what lets recovery treat only the last segment's tail as tearable.
 * A new segment's directory entry is made durable (directory fsync) before its records count as
 * durable. Each new segment gets a fresh random nonce in its header, and every block is sealed to
 * that nonce and its own offset (format.ts), so the bytes are encoded only once their place is
 * known.
 *
 * The writer is not safe for concurrent calls: the group committer runs one flush at a time.
 */
import * as path from "node:path";
import { assert } from "../common/assert.ts";
import { planBlocks } from "./block-planner.ts";
import {
  encodeBlock,
  encodeSegmentHeader,
  FORMAT_VERSION,
  type LogRecord,
  NONCE_BYTES,
  recordBytes,
  SEGMENT_HEADER_BYTES,
} from "./format.ts";
import { fsOp, type PlogFileHandle, type PlogFs, writeAt } from "./fs-port.ts";
import { formatSegmentName } from "./segment-name.ts";
import { Segment, type SegmentTable } from "./segment-table.ts";

export interface PrivateLogStats {
  /** Appends accepted. */
  appends: number;
  /** Write rounds, each ending in one fdatasync when fsync is on: appends / flushes is the
   * group-commit ratio. */
  flushes: number;
  /** Bytes written to segment files, headers included. */
  bytesWritten: number;
  /** truncateAfter calls accepted (including those that found nothing to discard). */
  truncations: number;
  /** resetTo calls accepted. */
  resets: number;
  /** read calls with a range left once capped at the durable decree. */
  reads: number;
  /** Of those, the ones the tail cache answered without reading a file (tail-cache.ts). */
  tailCacheReads: number;
}

export interface SegmentWriterOptions {
  readonly dir: string;
  readonly segmentBytesMax: number;
  readonly indexIntervalBytes: number;
  readonly fsync: boolean;
}

interface WrittenBlock {
  /** The segment the block went to; its index is updated by the caller. */
  readonly segment: Segment;
  readonly blockBytes: number;
}

/** Source of segment nonces: `bytes` random bytes (node:crypto randomBytes in production). */
export type RandomBytes = (bytes: number) => Buffer;

export class SegmentWriter {
  private readonly options: SegmentWriterOptions;
  private readonly fs: PlogFs;
  private readonly table: SegmentTable;
  private readonly stats: PrivateLogStats;
  private readonly randomBytes: RandomBytes;
  private activeHandle: PlogFileHandle | null;
  private nextSequence: number;

  constructor(
    options: SegmentWriterOptions,
    deps: {
      fs: PlogFs;
      table: SegmentTable;
      stats: PrivateLogStats;
      randomBytes: RandomBytes;
      activeHandle: PlogFileHandle | null;
      nextSequence: number;
    },
  ) {
    assert(deps.activeHandle === null || deps.table.last() !== undefined, "handle needs a segment");
    this.options = options;
    this.fs = deps.fs;
    this.table = deps.table;
    this.stats = deps.stats;
    this.randomBytes = deps.randomBytes;
    this.activeHandle = deps.activeHandle;
    this.nextSequence = deps.nextSequence;
  }

  /** Sequence the next new segment gets. */
  get nextSegmentSequence(): number {
    return this.nextSequence;
  }

  /**
   * Makes `records` durable; after each sync `onDurable` is told how many of them (a prefix) are.
   */
  async write(
    records: readonly LogRecord[],
    onDurable: (durableCount: number) => void,
  ): Promise<void> {
    // Without an open handle (fresh log, or recovery removed an empty last segment) the next
    // block starts a new segment.
    const active = this.activeHandle === null ? undefined : this.table.last();
    const plan = planBlocks(
      records.map((record) => recordBytes(record.payload.length)),
      active === undefined ? null : active.durableBytes,
      this.options.segmentBytesMax,
    );
    for (const planned of plan) {
      const blockRecords = records.slice(planned.start, planned.end);
      const first = blockRecords[0];
      const last = blockRecords[blockRecords.length - 1];
      assert(first !== undefined && last !== undefined, "planned blocks are non-empty");
      const { segment, blockBytes } = planned.newSegment
        ? await this.createSegment(first.decree, blockRecords)
        : await this.appendBlock(blockRecords);
      segment.addBlock({
        offset: segment.durableBytes,
        bytes: blockBytes,
        firstDecree: first.decree,
        lastDecree: last.decree,
        recordCount: blockRecords.length,
      });
      onDurable(planned.end);
    }
  }

  /** Closes the active segment's handle; the next write starts a new segment unless one is adopted. */
  async closeActive(): Promise<void> {
    const handle = this.activeHandle;
    if (handle === null) return;
    this.activeHandle = null;
    const fileName = this.table.last()?.fileName ?? "";
    await fsOp("close", path.join(this.options.dir, fileName), () => handle.close());
  }

  /**
   * After a truncation or reset rewrote the tail: `handle` (r+) is open on the table's last
   * segment, which the next block goes into, and `nextSequence` is the next new segment's.
   */
  adopt(handle: PlogFileHandle, nextSequence: number): void {
    const last = this.table.last();
    assert(this.activeHandle === null, "the previous active handle was closed");
    assert(last !== undefined && nextSequence === last.sequence + 1, "adopting the last segment");
    this.activeHandle = handle;
    this.nextSequence = nextSequence;
  }

  private async appendBlock(records: readonly LogRecord[]): Promise<WrittenBlock> {
    const segment = this.table.last();
    const handle = this.activeHandle;
    assert(segment !== undefined && handle !== null, "appending needs an active segment");
    const offset = segment.durableBytes;
    const block = encodeBlock(records, { nonce: segment.nonce, offset });
    const filePath = path.join(this.options.dir, segment.fileName);
    await fsOp("write", filePath, () => writeAt(handle, block, offset));
    await this.sync(handle, filePath);
    this.stats.bytesWritten += block.length;
    return { segment, blockBytes: block.length };
  }

  private async createSegment(
    firstDecree: number,
    records: readonly LogRecord[],
  ): Promise<WrittenBlock> {
    const sequence = this.nextSequence;
    const fileName = formatSegmentName({ sequence, firstDecree });
    const filePath = path.join(this.options.dir, fileName);
    const nonce = Buffer.from(this.randomBytes(NONCE_BYTES));
    assert(nonce.length === NONCE_BYTES, "the random source returns the bytes asked for");
    const header = encodeSegmentHeader({
      formatVersion: FORMAT_VERSION,
      sequence,
      firstDecree,
      nonce,
    });
    assert(header.length === SEGMENT_HEADER_BYTES, "segment header size");
    const block = encodeBlock(records, { nonce, offset: SEGMENT_HEADER_BYTES });
    const previous = this.activeHandle;
    const previousName = this.table.last()?.fileName ?? "";
    if (previous !== null) {
      // Everything written to it was synced by the flush that wrote it.
      this.activeHandle = null;
      const previousPath = path.join(this.options.dir, previousName);
      await fsOp("close", previousPath, () => previous.close());
    }
    const handle = await fsOp("create", filePath, () => this.fs.open(filePath, "wx"));
    this.activeHandle = handle;
    await fsOp("write", filePath, () => writeAt(handle, Buffer.concat([header, block]), 0));
    await this.sync(handle, filePath);
    if (this.options.fsync) {
      await fsOp("fsync", this.options.dir, () => this.fs.syncDir(this.options.dir));
    }
    this.stats.bytesWritten += header.length + block.length;
    this.nextSequence = sequence + 1;
    const segment = new Segment({
      sequence,
      fileName,
      firstDecree,
      nonce,
      indexIntervalBytes: this.options.indexIntervalBytes,
    });
    this.table.push(segment);
    return { segment, blockBytes: block.length };
  }

  private async sync(handle: PlogFileHandle, filePath: string): Promise<void> {
    if (this.options.fsync) await fsOp("fdatasync", filePath, () => handle.datasync());
    this.stats.flushes += 1;
  }

  async close(): Promise<void> {
    const handle = this.activeHandle;
    this.activeHandle = null;
    if (handle !== null) await fsOp("close", this.options.dir, () => handle.close());
  }
}
