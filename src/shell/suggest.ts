/** "Did you mean" for misspelt verbs, flags and names. */
import { editDistance } from "../common/edit-distance.ts";

/**
 * The candidate closest to `name` when it is within a typo's distance (one edit per three
 * characters of `name`, at least one), else a candidate that starts with `name`. Ties go to a
 * candidate starting with `name`, then to the earlier one.
 */
export function suggest(name: string, candidates: Iterable<string>): string | undefined {
  const allowed = Math.max(1, Math.floor(name.length / 3));
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  let prefixed: string | undefined;
  for (const candidate of candidates) {
    // Among equally close candidates, one that `name` begins ("hel" → "help") wins.
    const distance =
      editDistance(name.toLowerCase(), candidate.toLowerCase()) -
      (candidate.startsWith(name) ? 0.5 : 0);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
    if (prefixed === undefined && name.length > 0 && candidate.startsWith(name))
      prefixed = candidate;
  }
  return bestDistance <= allowed ? best : prefixed;
}
