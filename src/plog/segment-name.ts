/**
 * Segment file names: `plog.<sequence>.<firstDecree>`, the sequence zero-padded to 8 digits so a
 * directory listing sorts in log order (callers still sort numerically, so sequences past 8 digits
 * keep working). The name repeats what the segment header says; open checks the two agree.
 */

const NAME_PATTERN = /^plog\.(\d{8,10})\.(\d{1,16})$/;

export interface SegmentName {
  readonly sequence: number;
  readonly firstDecree: number;
}

export function formatSegmentName(name: SegmentName): string {
  return `plog.${String(name.sequence).padStart(8, "0")}.${name.firstDecree}`;
}

/** Returns null for files that are not plog segments. */
export function parseSegmentName(fileName: string): SegmentName | null {
  const match = NAME_PATTERN.exec(fileName);
  if (match === null) return null;
  const sequence = Number(match[1]);
  const firstDecree = Number(match[2]);
  if (!Number.isSafeInteger(firstDecree) || firstDecree < 1 || sequence < 1) return null;
  if (sequence > 0xffff_ffff) return null;
  return { sequence, firstDecree };
}
