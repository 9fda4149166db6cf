/** Suggestions for misspelt names: the closest known name when it is close enough to be a typo. */
import { editDistance } from "../common/edit-distance.ts";

/**
 * The known name closest to `name`, if within a typo's distance: 2 edits, or a quarter of the
 * name's length for long names. Ties go to the earlier candidate.
 */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  const allowed = Math.max(2, Math.floor(name.length / 4));
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= allowed ? best : undefined;
}
