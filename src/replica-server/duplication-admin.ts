/**
 * The duplication views and admin actions a replica server answers for the replicas it hosts:
 * dead letters (list, replay) and the ref §6.3 `/replica/duplication` JSON.
 */
import { replayDeadLetters, tableRemote } from "../duplication/index.ts";
import type {
  DeadLetterSummary,
  ListDeadLettersRequest,
  ListDeadLettersResponse,
  ReplayDeadLettersRequest,
  ReplayDeadLettersResponse,
} from "../protocol/dead-letter-messages.ts";
import { gpidKey } from "../protocol/index.ts";
import type { PartitionReplica } from "../replica/index.ts";
import type { DuplicationAgent } from "./duplication-agent.ts";

const REPLAY_TIMEOUT_MS = 30_000;

export async function listDeadLetters(
  self: string,
  agent: DuplicationAgent,
  replicas: Iterable<PartitionReplica>,
  request: ListDeadLettersRequest,
): Promise<ListDeadLettersResponse> {
  const letters: DeadLetterSummary[] = [];
  let countLetters = 0;
  let countEntries = 0;
  const limit = request.limit ?? 1000;
  for (const replica of replicas) {
    const gpid = replica.report().gpid;
    if (request.appId !== undefined && gpid.appId !== request.appId) continue;
    const store = await agent.deadLetterStore(gpid);
    const counts = store.counts(request.dupid);
    countLetters += counts.letters;
    countEntries += counts.entries;
    if (letters.length >= limit) continue;
    const listed = await store.list({
      ...(request.dupid === undefined ? {} : { dupid: request.dupid }),
      limit: limit - letters.length,
    });
    for (const letter of listed) {
      letters.push({
        gpid: gpidKey(gpid),
        dupid: letter.dupid,
        id: letter.id,
        createdAtMs: letter.createdAtMs,
        entries: letter.entries.length,
        fromDecree: letter.fromDecree,
        toDecree: letter.toDecree,
        error: { code: letter.error.code, message: letter.error.message },
      });
    }
  }
  return { node: self, letters, counts: { letters: countLetters, entries: countEntries } };
}

export async function replayDeadLettersHere(
  self: string,
  agent: DuplicationAgent,
  replicas: Iterable<PartitionReplica>,
  request: ReplayDeadLettersRequest,
): Promise<ReplayDeadLettersResponse> {
  const total = {
    replayedLetters: 0,
    replayedEntries: 0,
    supersededRecords: 0,
    failed: 0,
    notReplayable: 0,
  };
  const table = agent.remoteTableOf(request.appId, request.dupid);
  if (table === undefined) return { node: self, ...total };
  const partitionCount = await table.partitionCount({ timeoutMs: REPLAY_TIMEOUT_MS });
  for (const replica of replicas) {
    const gpid = replica.report().gpid;
    if (gpid.appId !== request.appId) continue;
    const store = await agent.deadLetterStore(gpid);
    if (store.counts(request.dupid).letters === 0) continue;
    const result = await replayDeadLetters(store, tableRemote(table), {
      dupid: request.dupid,
      partitionCount,
      timeoutMs: REPLAY_TIMEOUT_MS,
      // Only what this partition still holds as its latest goes out (replay.ts, stillCurrent).
      storedTimetag: (hashKey, sortKey) => replica.localReads.storedTimetag(hashKey, sortKey),
    });
    total.replayedLetters += result.replayedLetters;
    total.replayedEntries += result.replayedEntries;
    total.supersededRecords += result.supersededRecords;
    total.failed += result.failed.length;
    total.notReplayable += result.notReplayable.length;
  }
  return { node: self, ...total };
}

/** `/replica/duplication?appid=` (ref §6.3): per dupid, per primary partition here. */
export function duplicationStatusJson(
  agent: DuplicationAgent,
  appId: number,
): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const { gpid, dupid, snapshot, remoteAppName, confirmedByMeta } of agent.statuses()) {
    if (!gpid.startsWith(`${appId}.`)) continue;
    const byGpid = out[String(dupid)] ?? {};
    out[String(dupid)] = byGpid;
    byGpid[gpid] = {
      duplicating:
        snapshot.phase !== "paused" &&
        snapshot.pausedWithError === undefined &&
        snapshot.logTruncated === undefined,
      fail_mode: snapshot.failMode,
      not_confirmed_mutations_num: Math.max(0, snapshot.committedDecree - confirmedByMeta),
      not_duplicated_mutations_num: Math.max(0, snapshot.committedDecree - snapshot.lastDecree),
      remote_app_name: remoteAppName,
      stalled: snapshot.stalled,
      batches_in_flight: snapshot.batchesInFlight,
      ...(snapshot.remoteClock === undefined
        ? {}
        : {
            remote_clock_offset_ms: Math.round(snapshot.remoteClock.offsetMs),
            remote_clock_uncertainty_ms: Math.ceil(snapshot.remoteClock.uncertaintyMs),
            clock_skew_exceeded: snapshot.remoteClock.skewExceeded,
          }),
      ...(snapshot.lastError === undefined ? {} : { last_error: snapshot.lastError }),
    };
  }
  return out;
}
