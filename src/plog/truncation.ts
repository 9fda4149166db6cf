/**
 * Truncation and reset on disk: discarding every record above a decree (truncateAfter), or every
 * record (resetTo, which leaves a floor segment so the empty log remembers where it starts). The
 * private log runs both as group-commit barriers (alone, between flushes, in call order) with
 * reads kept out (read-gate.ts).
 *
 * Design: a redo intent. Each operation is first planned in full (reads only), then:
 *   1. commit: create `plog.intent` (intent-file.ts) describing the whole outcome, fdatasync it,
 *      fsync the directory;
 *   2. apply: truncate — delete every segment after the one holding the new last record, fsync
 *      the directory; cut that segment at the start of the block holding afterDecree + 1
 *      (ftruncate), write there the replacement block (that block's records <= afterDecree,
 *      sealed to the segment's nonce at that offset) if there is one, fdatasync;
 *      reset — delete every segment, create the floor segment (header only, SEGMENT_FLAG_FLOOR,
 *      first decree = decree + 1), fdatasync it, fsync the directory;
 *   3. clear: delete the intent, fsync the directory.
 * On open, recovery finds a leftover intent and runs steps 2 and 3 again before scanning. The
 * steps and that recovery are in intent-steps.ts; this file plans the operations and keeps the
 * in-memory index in step.
 *
 * Why a crash at any point leaves either the log before the operation or the log after it:
 * - until the intent is durable nothing but the intent file was touched: the log before. An
 *   intent the crash tore fails its length or CRC check (it is trusted only whole), is known for
 *   torn and deleted on open: still the log before;
 * - once the intent is durable the operation is committed: whatever part of step 2 reached the
 *   disk, recovery redoes all of it. Step 2 is idempotent (deleting a deleted file is a no-op;
 *   cutting at `offset` and writing the same bytes there gives the same file however much of it
 *   happened before; a half-made floor segment is deleted with the others and made again) and
 *   reads nothing it may have destroyed: the replacement block, the only copy of the records
 *   <= afterDecree of the block being cut, travels in the intent. So: the log after;
 * - the intent is deleted, durably, only once step 2 is durable, and nothing else is written
 *   before that (the barrier holds the group committer): a redo never runs over a later write,
 *   and a later append being durable implies the operation is. A discarded record cannot come
 *   back behind later appends: the blocks after the cut were removed by a durable ftruncate
 *   before any new block is written past it, and deleted segments are durably gone before a
 *   segment with their sequence is created again.
 * Records <= afterDecree are never at risk: they are untouched (earlier blocks and segments) or in
 * the replacement block, which is durable in the intent before the original block is cut.
 *
 * Cost: about four fsyncs per operation. Truncation happens when a new primary overrules
 * uncommitted entries, reset when a learner installs a checkpoint: both rare.
 */
import * as path from "node:path";
import { assert } from "../common/assert.ts";
import { readBlockBody, readBlockHeader } from "./block-reader.ts";
import { BLOCK_HEADER_BYTES, type BlockHeader, encodeBlock } from "./format.ts";
import { fsOp, type PlogFileHandle } from "./fs-port.ts";
import type { ResetIntent, TruncateIntent } from "./intent-file.ts";
import {
  applyReset,
  applyTruncate,
  clearIntent,
  closeOnFailure,
  commitIntent,
  corruption,
  type RewriteIo,
} from "./intent-steps.ts";
import { Segment, type SegmentTable } from "./segment-table.ts";
import type { PrivateLogStats, RandomBytes, SegmentWriter } from "./segment-writer.ts";

export interface RewriteDeps extends RewriteIo {
  readonly indexIntervalBytes: number;
  readonly table: SegmentTable;
  readonly writer: SegmentWriter;
  readonly randomBytes: RandomBytes;
  readonly stats: PrivateLogStats;
}

interface BlockSummary {
  readonly bytes: number;
  readonly firstDecree: number;
  readonly lastDecree: number;
  readonly recordCount: number;
}

interface TruncatePlan {
  readonly intent: TruncateIntent;
  readonly target: Segment;
  readonly blocks: number;
  readonly records: number;
  readonly lastDecreeBefore: number | undefined;
  readonly replacement: BlockSummary | null;
}

/**
 * Discards every record above `afterDecree`. The caller (a barrier) guarantees a record <=
 * afterDecree exists: discarding every record is a reset.
 */
export async function truncateSegments(deps: RewriteDeps, afterDecree: number): Promise<void> {
  const plan = await planTruncate(deps, afterDecree);
  if (plan === null) return;
  const { intent, target } = plan;
  await commitIntent(deps, intent);
  await deps.writer.closeActive();
  const handle = await applyTruncate(deps, intent, deps.table.all());
  await closeOnFailure(handle, target.fileName, () => clearIntent(deps));
  deps.table.takeAfter(target.sequence);
  target.cutAt({
    offset: intent.offset,
    blocks: plan.blocks,
    records: plan.records,
    lastDecreeBefore: plan.lastDecreeBefore,
    replacement: plan.replacement,
  });
  deps.stats.bytesWritten += intent.block.length;
  deps.writer.adopt(handle, target.sequence + 1);
}

/** Discards every record; the log starts again after `decree`, in a new floor segment. */
export async function resetSegments(deps: RewriteDeps, decree: number): Promise<void> {
  const intent: ResetIntent = {
    kind: "reset",
    decree,
    sequence: deps.writer.nextSegmentSequence,
  };
  await commitIntent(deps, intent);
  await deps.writer.closeActive();
  const floor = await applyReset(deps, intent, deps.table.all(), deps.randomBytes);
  await closeOnFailure(floor.handle, floor.segment.fileName, () => clearIntent(deps));
  deps.table.takeAll();
  deps.table.push(
    new Segment({
      ...floor.segment,
      indexIntervalBytes: deps.indexIntervalBytes,
      isFloor: true,
    }),
  );
  deps.stats.bytesWritten += floor.bytes;
  deps.writer.adopt(floor.handle, intent.sequence + 1);
}

/** Where to cut, and what to write there; null when nothing on disk is above `afterDecree`. */
async function planTruncate(deps: RewriteDeps, afterDecree: number): Promise<TruncatePlan | null> {
  const segments = deps.table.all();
  const last = deps.table.last();
  if (last === undefined || last.lastDecree <= afterDecree) return null;
  const target = segments.findLast(
    (segment) =>
      segment.firstRecordDecree !== undefined && segment.firstRecordDecree <= afterDecree,
  );
  assert(target !== undefined, "a truncation keeps a record; discarding all is a reset");
  const intent = { kind: "truncate", afterDecree, sequence: target.sequence } as const;
  if (target.lastDecree <= afterDecree) {
    // The cut falls between this segment and the next: nothing in it changes.
    return {
      intent: { ...intent, offset: target.durableBytes, block: Buffer.alloc(0) },
      target,
      blocks: 0,
      records: 0,
      lastDecreeBefore: target.lastDecree,
      replacement: null,
    };
  }
  const filePath = path.join(deps.dir, target.fileName);
  const handle = await fsOp("open", filePath, () => deps.fs.open(filePath, "r"));
  try {
    return await fsOp("read", filePath, () => planCut(handle, target, intent));
  } finally {
    await fsOp("close", filePath, () => handle.close());
  }
}

/** Scans `target` from a seek point at or before afterDecree for the block holding the cut. */
async function planCut(
  handle: PlogFileHandle,
  target: Segment,
  base: { kind: "truncate"; afterDecree: number; sequence: number },
): Promise<TruncatePlan> {
  const { afterDecree } = base;
  let offset = target.seekOffset(afterDecree);
  let lastDecreeBefore: number | undefined;
  let cut: { offset: number; header: BlockHeader } | undefined;
  let blocks = 0;
  let records = 0;
  // Bounded by the segment's durable size: each step moves past one block.
  while (offset < target.durableBytes) {
    const header = await readBlockHeader(handle, offset, target.durableBytes, target.nonce);
    if (!header.ok) throw corruption(target.fileName, offset, `${header.reason} on truncation`);
    if (cut === undefined && header.value.lastDecree > afterDecree) {
      cut = { offset, header: header.value };
    }
    if (cut === undefined) {
      lastDecreeBefore = header.value.lastDecree;
    } else {
      blocks += 1;
      records += header.value.recordCount;
    }
    offset += BLOCK_HEADER_BYTES + header.value.bodyBytes;
  }
  assert(cut !== undefined, "the segment holds a decree above the cut");
  const cutHeader = cut.header;
  let block: Buffer = Buffer.alloc(0);
  let replacement: BlockSummary | null = null;
  if (cutHeader.firstDecree <= afterDecree) {
    const body = await readBlockBody(handle, cut.offset, cutHeader, target.nonce);
    if (!body.ok) throw corruption(target.fileName, cut.offset, `${body.reason} on truncation`);
    const kept = body.value.filter((record) => record.decree <= afterDecree);
    const first = kept[0];
    const last = kept[kept.length - 1];
    assert(first !== undefined && last !== undefined, "the cut block keeps a record");
    block = encodeBlock(kept, { nonce: target.nonce, offset: cut.offset });
    replacement = {
      bytes: block.length,
      firstDecree: first.decree,
      lastDecree: last.decree,
      recordCount: kept.length,
    };
  } else {
    // The seek point's block holds a decree <= afterDecree, so a block was read before this one.
    assert(lastDecreeBefore !== undefined, "the block before the cut was read");
  }
  return {
    intent: { ...base, offset: cut.offset, block },
    target,
    blocks,
    records,
    lastDecreeBefore,
    replacement,
  };
}
