/**
 * wait_dup / dup wait: follows one duplication until it has started shipping — a full sync
 * (DS_PREPARE, DS_APP) or an incremental start (DS_INIT) done — polling the meta server every
 * DUP_WAIT_POLL_MS and drawing the full sync's progress on a terminal bar (stderr). Ctrl-C stops
 * the waiting only: the duplication goes on in the background.
 */
import { isTalariaError, TalariaError } from "../common/index.ts";
import { type DuplicationDetail, DuplicationStatus } from "../protocol/index.ts";
import { fullSyncProgress, fullSyncText } from "./dup-full-sync-view.ts";
import { duplicationJson } from "./dup-view.ts";
import type { VerbContext, VerbResult } from "./verb-spec.ts";
import type { StartHint } from "./verbs-dup.ts";

/** How often wait_dup asks the meta server (a query of the table's duplications). */
export const DUP_WAIT_POLL_MS = 1000;
/**
 * Polls in a row that may fail retriably (a meta leader change, a timeout) before wait_dup gives
 * up with the last error: a full sync takes hours, a meta failover seconds.
 */
export const DUP_WAIT_FAILURES_MAX = 60;

/** Statuses in which a duplication is still getting ready to ship. */
const STARTING: ReadonlySet<DuplicationStatus> = new Set([
  DuplicationStatus.DS_INIT,
  DuplicationStatus.DS_PREPARE,
  DuplicationStatus.DS_APP,
]);

/** Where a starting duplication is, for the bar: the full sync's cell, or DS_INIT's wait. */
function phaseText(detail: DuplicationDetail): string {
  const text = fullSyncText(detail);
  return text === "" ? `${detail.status}: waiting for the start decrees` : text;
}

/**
 * The bar's done / total: the full sync's bytes, or — in DS_APP before the remote reported any
 * size (a copy too quick to be seen between two polls) — its partitions done.
 */
function barShare(detail: DuplicationDetail): [number, number] {
  const progress = fullSyncProgress(detail);
  if (progress === undefined || progress.status !== DuplicationStatus.DS_APP) return [0, 0];
  if (progress.totalBytes > 0) return [progress.doneBytes, progress.totalBytes];
  return [progress.partitionsDone, progress.partitionCount];
}

export async function runWaitDuplication(
  context: VerbContext,
  appName: string,
  dupid: number,
  startHint: StartHint,
): Promise<VerbResult> {
  const bar = context.phaseProgress?.();
  let detail: DuplicationDetail | undefined;
  let polls = 0;
  let failures = 0;
  let share: [number, number] = [0, 0];
  try {
    for (;;) {
      let answer: Awaited<ReturnType<typeof context.backend.queryDuplication>>;
      try {
        answer = await context.backend.queryDuplication(appName);
        failures = 0;
      } catch (error) {
        failures += 1;
        if (!isTalariaError(error) || !error.retriable || failures >= DUP_WAIT_FAILURES_MAX)
          throw error;
        bar?.update(
          ...share,
          `meta server not answering (${failures}x), retrying: ${error.message}`,
        );
        await context.sleep(DUP_WAIT_POLL_MS);
        continue;
      }
      context.rememberTables([answer.appName]);
      const found = answer.duplications.find((dup) => dup.dupid === dupid);
      if (found === undefined) {
        throw new TalariaError(
          "ERR_OBJECT_NOT_FOUND",
          polls === 0
            ? `table ${appName} has no duplication ${dupid}`
            : `duplication ${dupid} of table ${appName} is gone (removed while waiting)`,
        );
      }
      detail = found;
      polls += 1;
      if (!STARTING.has(detail.status)) break;
      share = barShare(detail);
      bar?.update(...share, phaseText(detail));
      await context.sleep(DUP_WAIT_POLL_MS);
    }
  } finally {
    bar?.stop();
  }
  const lines = [`duplication ${dupid} of table ${appName}: ${detail.status}`];
  if (detail.status === DuplicationStatus.DS_LOG) {
    lines.push("it ships the log");
  } else if (detail.status === DuplicationStatus.DS_PAUSE) {
    lines.push(`it is paused: start it with ${startHint(appName, dupid)}`);
  }
  return { json: { appName, duplication: duplicationJson(detail) }, lines };
}
