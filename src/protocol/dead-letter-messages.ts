/**
 * Dead-letter messages (protocol v1): admin clients (the shell) → replica servers of the SOURCE
 * cluster of a duplication. Under FAIL_SKIP a primary writes what it could not ship or read to its
 * dead-letter store (docs/duplication.md, "Dead letters"); these two RPCs list and replay them.
 *
 * Each replica server answers for the letters of the replicas it hosts, so a client asks every
 * alive replica server and merges (the shell: `dup_dead_letters`, `replay_dead_letters`).
 * Replaying is safe at any time and any number of times: the target applies duplicated entries
 * last-write-wins by their source timetags, and a record the source changed since is left out
 * (duplication/source/replay.ts), so a replay never brings back a key deleted after it.
 *
 * The decoders check payloads from peers: requests on the replica server, responses in the shell.
 */
import * as v from "./validate.ts";

export const DeadLetterMethod = {
  LIST: "replica.dup_dead_letters",
  REPLAY: "replica.dup_replay_dead_letters",
} as const;
export type DeadLetterMethod = (typeof DeadLetterMethod)[keyof typeof DeadLetterMethod];

/** Most letters one LIST answer carries (the store's own list cap, DEAD_LETTER_LIST_MAX). */
export const DEAD_LETTER_LIST_LIMIT_MAX = 1000;
/** Largest app id and dupid (both int32 on the wire, as in Pegasus). */
const INT32_MAX = 2 ** 31 - 1;
const NODE_LENGTH_MAX = 256;
const ERROR_CODE_LENGTH_MAX = 64;
const ERROR_MESSAGE_LENGTH_MAX = 4096;

export interface ListDeadLettersRequest {
  /** Only letters of this table's replicas; every table's if absent. */
  readonly appId?: number;
  /** Only this duplication's letters; every duplication's if absent. */
  readonly dupid?: number;
  /** At most this many letters (1 to DEAD_LETTER_LIST_LIMIT_MAX; the cap if absent). */
  readonly limit?: number;
}

export interface DeadLetterSummary {
  /** The source partition, `<appId>.<partitionIndex>` (gpidKey). */
  readonly gpid: string;
  readonly dupid: number;
  /** The letter's id in its partition's store (ids grow; replay removes letters). */
  readonly id: number;
  readonly createdAtMs: number;
  /** Entries the letter holds; 0 for plog decrees that could not be read (not replayable). */
  readonly entries: number;
  /** The source decrees the letter covers, inclusive. */
  readonly fromDecree: number;
  readonly toDecree: number;
  /** The last failure before the letter was written. */
  readonly error: { readonly code: string; readonly message: string };
}

export interface ListDeadLettersResponse {
  /** The answering replica server. */
  readonly node: string;
  /** Matching letters, at most `limit`. */
  readonly letters: readonly DeadLetterSummary[];
  /** Every matching letter the node holds (may exceed `letters.length`). */
  readonly counts: { readonly letters: number; readonly entries: number };
}

export interface ReplayDeadLettersRequest {
  readonly appId: number;
  readonly dupid: number;
}

export interface ReplayDeadLettersResponse {
  readonly node: string;
  /** Letters whose entries the remote acknowledged; they were removed. */
  readonly replayedLetters: number;
  readonly replayedEntries: number;
  /** Records of the replayed letters left out because the source changed them since. */
  readonly supersededRecords: number;
  /** Letters the remote refused or did not answer for; kept. */
  readonly failed: number;
  /** Letters without entries (unreadable plog decrees); kept for the full re-sync to cover. */
  readonly notReplayable: number;
}

export function decodeListDeadLettersRequest(payload: unknown): ListDeadLettersRequest {
  const p = v.object(payload ?? {}, "payload");
  return v.present<ListDeadLettersRequest>({
    appId: v.optionalInteger(p.appId, "appId", 0, INT32_MAX),
    dupid: v.optionalInteger(p.dupid, "dupid", 1, INT32_MAX),
    limit: v.optionalInteger(p.limit, "limit", 1, DEAD_LETTER_LIST_LIMIT_MAX),
  });
}

export function decodeReplayDeadLettersRequest(payload: unknown): ReplayDeadLettersRequest {
  const p = v.object(payload ?? {}, "payload");
  return {
    appId: v.integer(p.appId, "appId", 0, INT32_MAX),
    dupid: v.integer(p.dupid, "dupid", 1, INT32_MAX),
  };
}

function letter(value: unknown, field: string): DeadLetterSummary {
  const l = v.object(value, field);
  const error = v.object(l.error, `${field}.error`);
  return {
    gpid: v.string(l.gpid, `${field}.gpid`, 32),
    dupid: v.integer(l.dupid, `${field}.dupid`, 1, INT32_MAX),
    id: v.integer(l.id, `${field}.id`, 0),
    createdAtMs: v.integer(l.createdAtMs, `${field}.createdAtMs`, 0),
    entries: v.integer(l.entries, `${field}.entries`, 0),
    fromDecree: v.integer(l.fromDecree, `${field}.fromDecree`),
    toDecree: v.integer(l.toDecree, `${field}.toDecree`),
    error: {
      code: v.string(error.code, `${field}.error.code`, ERROR_CODE_LENGTH_MAX),
      message: v.string(error.message, `${field}.error.message`, ERROR_MESSAGE_LENGTH_MAX),
    },
  };
}

export function decodeListDeadLettersResponse(payload: unknown): ListDeadLettersResponse {
  const p = v.object(payload, "payload");
  const counts = v.object(p.counts, "counts");
  return {
    node: v.string(p.node, "node", NODE_LENGTH_MAX),
    letters: v.array(p.letters, "letters", DEAD_LETTER_LIST_LIMIT_MAX, letter),
    counts: {
      letters: v.integer(counts.letters, "counts.letters", 0),
      entries: v.integer(counts.entries, "counts.entries", 0),
    },
  };
}

export function decodeReplayDeadLettersResponse(payload: unknown): ReplayDeadLettersResponse {
  const p = v.object(payload, "payload");
  return {
    node: v.string(p.node, "node", NODE_LENGTH_MAX),
    replayedLetters: v.integer(p.replayedLetters, "replayedLetters", 0),
    replayedEntries: v.integer(p.replayedEntries, "replayedEntries", 0),
    // Absent from servers older than the field: none left out.
    supersededRecords:
      p.supersededRecords === undefined
        ? 0
        : v.integer(p.supersededRecords, "supersededRecords", 0),
    failed: v.integer(p.failed, "failed", 0),
    notReplayable: v.integer(p.notReplayable, "notReplayable", 0),
  };
}
