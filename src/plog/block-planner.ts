/**
 * Splits one flush group into blocks and decides where segments roll over. Pure: sizes in, plan
 * out, so the rollover rule is tested without touching a disk.
 *
 * Rules:
 * - a block goes into the active segment if the segment stays within `segmentBytesMax`;
 * - otherwise the segment rolls over and the block starts a new one;
 * - a record too big for even an empty segment still gets written: alone, in its own segment
 *   (the only way a segment exceeds the max), and the next block rolls over again;
 * - at most one block per segment per group, so each segment touched costs one write + one sync.
 */
import { assert } from "../common/assert.ts";
import { BLOCK_HEADER_BYTES, SEGMENT_HEADER_BYTES } from "./format.ts";

export interface PlannedBlock {
  /** Create a new segment and write this block first in it. */
  readonly newSegment: boolean;
  /** Record range [start, end) of the group. */
  readonly start: number;
  readonly end: number;
}

/**
 * @param recordBytes encoded size (record header + payload) of each record in the group
 * @param activeSegmentBytes size of the active segment, or null when there is none
 */
export function planBlocks(
  recordBytes: readonly number[],
  activeSegmentBytes: number | null,
  segmentBytesMax: number,
): PlannedBlock[] {
  assert(recordBytes.length >= 1, "a flush group holds at least one record");
  const plan: PlannedBlock[] = [];
  let segmentBytes = activeSegmentBytes;
  let start = 0;
  while (start < recordBytes.length) {
    const newSegment = segmentBytes === null;
    const base = (segmentBytes ?? SEGMENT_HEADER_BYTES) + BLOCK_HEADER_BYTES;
    let bodyBytes = 0;
    let end = start;
    while (end < recordBytes.length) {
      const size = recordBytes[end];
      assert(size !== undefined && size > 0, "record sizes are positive");
      if (base + bodyBytes + size > segmentBytesMax) break;
      bodyBytes += size;
      end += 1;
    }
    if (end === start) {
      if (!newSegment) {
        segmentBytes = null;
        continue;
      }
      // Too big for an empty segment: it goes alone into this one.
      bodyBytes = recordBytes[start] ?? 0;
      end = start + 1;
    }
    plan.push({ newSegment, start, end });
    segmentBytes = base + bodyBytes;
    start = end;
    if (start < recordBytes.length) segmentBytes = null;
  }
  return plan;
}
