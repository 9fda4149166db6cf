/**
 * Duplication verbs, Pegasus shell dialect (ref §7.1): add_dup, query_dup, start_dup, pause_dup,
 * remove_dup, set_dup_fail_mode, and Talaria's resync_dup and wait_dup. Each is one meta-server
 * call but wait_dup, which polls (dup-wait.ts); the admin-cli dialect (`dup …`,
 * verbs-dup-admin.ts) runs the same calls through the functions exported here.
 */
import {
  type AddDuplicationRequest,
  type DuplicationFailMode,
  DuplicationStatus,
  type ModifyDuplicationRequest,
} from "../protocol/index.ts";
import { parseIntText, tokenText } from "./args.ts";
import { anyFullSync } from "./dup-full-sync-view.ts";
import {
  DUPID_MAX,
  duplicationHeader,
  duplicationJson,
  duplicationRow,
  FAIL_MODE_NAMES,
  FAIL_MODES,
  failureLines,
  partitionHeader,
  partitionRows,
} from "./dup-view.ts";
import { runWaitDuplication } from "./dup-wait.ts";
import { formatPairs, formatTable, plural } from "./render.ts";
import {
  type AnyVerbSpec,
  type Args,
  defineVerb,
  type FlagSpec,
  type VerbContext,
  type VerbResult,
} from "./verb-spec.ts";
import { CREATE_REPLICA_COUNT_MAX } from "./verbs-cluster.ts";

/** What `add_dup` and `dup add` ask, apart from the table. */
export interface AddDupOptions {
  readonly remoteClusterName: string;
  readonly remoteAppName: string | undefined;
  readonly remoteReplicaCount: number | undefined;
  /** Full duplication (`-s` / `-p`): checkpoint, follower table, then log. */
  readonly checkpoint: boolean;
  readonly freezed: boolean;
}

/** The shared `-a` / `-r` flags of both add verbs. */
export const REMOTE_TABLE_FLAGS: readonly FlagSpec[] = [
  {
    name: "remote_app_name",
    short: "a",
    kind: "string",
    help: "the table on the remote cluster (default: the same name)",
  },
  {
    name: "remote_replica_count",
    short: "r",
    kind: "int",
    min: 0,
    max: CREATE_REPLICA_COUNT_MAX,
    help: "replica count of the remote table (default 0: the source's)",
  },
];

export function parseRemoteTable(
  args: Args,
): Pick<AddDupOptions, "remoteAppName" | "remoteReplicaCount"> {
  const remote = args.token("remote_app_name");
  return {
    remoteAppName: remote === undefined ? undefined : tokenText(remote, "-a", args.verb),
    remoteReplicaCount: args.int("remote_replica_count"),
  };
}

export function parseDupid(text: string, verb: string): number {
  return parseIntText(text, "dupid", 1, DUPID_MAX, verb);
}

/** How to start a paused duplication, in the verb's own dialect. */
export type StartHint = (appName: string, dupid: number) => string;
/** How to watch a duplication, or wait for it, in the verb's own dialect. */
export type WatchHint = (appName: string, dupid: number) => string;

const pegasusWatchHint: WatchHint = (appName, dupid) =>
  `query_dup ${appName} -d, or wait for it with wait_dup ${appName} ${dupid}`;

export async function runAddDuplication(
  context: VerbContext,
  appName: string,
  options: AddDupOptions,
  startHint: StartHint,
  watchHint: WatchHint = pegasusWatchHint,
): Promise<VerbResult> {
  const request: AddDuplicationRequest = {
    appName,
    remoteClusterName: options.remoteClusterName,
    ...(options.remoteAppName === undefined ? {} : { remoteAppName: options.remoteAppName }),
    ...(options.remoteReplicaCount === undefined
      ? {}
      : { remoteReplicaCount: options.remoteReplicaCount }),
    // Sent explicitly, as Pegasus's shell does.
    isDuplicatingCheckpoint: options.checkpoint,
    ...(options.freezed ? { freezed: true } : {}),
  };
  const added = await context.backend.addDuplication(request);
  const lines = [
    `add duplication succeed: app_name=${appName} remote_cluster_name=${options.remoteClusterName} ` +
      `app_id=${added.appId} dupid=${added.dupid} status=${added.status} ` +
      `remote_app_name=${added.remoteAppName} remote_replica_count=${added.remoteReplicaCount} ` +
      `is_duplicating_checkpoint=${options.checkpoint}`,
  ];
  const full = added.status === DuplicationStatus.DS_PREPARE;
  if (full) {
    lines.push(
      `full duplication started: the primaries make checkpoints (DS_PREPARE), the remote table copies them (DS_APP), then the log ships (${options.freezed ? "DS_PAUSE" : "DS_LOG"}); watch it with ${watchHint(appName, added.dupid)}`,
    );
  } else if (added.status === DuplicationStatus.DS_INIT) {
    lines.push(
      `the start point is not fixed yet: the duplication completes in the background (its status turns ${options.freezed ? "DS_PAUSE" : "DS_LOG"})`,
    );
    if (added.hint !== undefined) lines.push(`hint: ${added.hint}`);
  } else {
    lines.push(`start_decrees: ${added.startDecrees.join(",")}`);
  }
  if (options.freezed)
    lines.push(
      full
        ? `it stays paused (freezed) once copied: start it then with ${startHint(appName, added.dupid)}`
        : `paused (freezed): start it with ${startHint(appName, added.dupid)}`,
    );
  return {
    json: {
      appName,
      remoteClusterName: options.remoteClusterName,
      isDuplicatingCheckpoint: options.checkpoint,
      ...added,
    },
    lines,
  };
}

export async function runQueryDuplications(
  context: VerbContext,
  appName: string,
  detailed: boolean,
): Promise<VerbResult> {
  const answer = await context.backend.queryDuplication(appName);
  context.rememberTables([answer.appName]);
  const lines = formatPairs([
    ["app_name", answer.appName],
    ["app_id", String(answer.appId)],
    ["partition_count", String(answer.partitionCount)],
  ]);
  const dups = answer.duplications;
  if (dups.length === 0) {
    lines.push("", `no duplication of table ${answer.appName}`);
  } else {
    const withFullSync = anyFullSync(dups);
    lines.push(
      "",
      ...formatTable(
        duplicationHeader(dups),
        dups.map((dup) => duplicationRow(dup, withFullSync)),
      ),
    );
    // Failures show with or without -d: a stopped shipper needs the operator.
    const failures = dups.flatMap(failureLines);
    if (failures.length > 0) lines.push("", ...failures);
    if (detailed) {
      for (const dup of dups) {
        const own = dup.fullSync !== undefined;
        lines.push(
          "",
          `dupid ${dup.dupid}:`,
          ...formatTable(partitionHeader(own), partitionRows(dup, own)),
        );
      }
    }
    lines.push("", plural(dups.length, "duplication"));
  }
  return {
    json: { ...answer, duplications: dups.map(duplicationJson) },
    lines,
  };
}

type Change = Pick<ModifyDuplicationRequest, "status" | "failMode">;

/** What a change is called in its answer line. */
function changeName(change: Change): string {
  if (change.failMode !== undefined) return "set fail mode of";
  switch (change.status) {
    case DuplicationStatus.DS_LOG:
      return "start";
    case DuplicationStatus.DS_PAUSE:
      return "pause";
    case DuplicationStatus.DS_REMOVED:
      return "remove";
    default:
      return "modify";
  }
}

export async function runModifyDuplication(
  context: VerbContext,
  appName: string,
  dupid: number,
  change: Change,
): Promise<VerbResult> {
  const answer = await context.backend.modifyDuplication({ appName, dupid, ...change });
  return {
    json: { appName, ...answer },
    lines: [
      `${changeName(change)} duplication ${dupid} of table ${appName} succeed: ` +
        `status=${answer.status} fail_mode=${answer.failMode}`,
    ],
  };
}

/**
 * A full re-sync of a duplication (typically one whose partitions report log_truncated): the
 * primaries checkpoint again and send the checkpoints into the existing remote table, then ship
 * the log from there.
 */
export async function runResyncDuplication(
  context: VerbContext,
  appName: string,
  dupid: number,
  watchHint: WatchHint = pegasusWatchHint,
): Promise<VerbResult> {
  const answer = await context.backend.resyncDuplication({ appName, dupid });
  return {
    json: { appName, ...answer },
    lines: [
      `resync duplication ${dupid} of table ${appName} succeed: status=${answer.status} fail_mode=${answer.failMode}`,
      `the primaries make checkpoints and send them to the remote table, then the log ships again; watch it with ${watchHint(appName, dupid)}`,
    ],
  };
}

const pegasusStartHint: StartHint = (appName, dupid) => `start_dup ${appName} ${dupid}`;

interface AddDupRequest extends AddDupOptions {
  readonly appName: string;
}

const addDup = defineVerb<AddDupRequest>({
  name: "add_dup",
  group: "duplication",
  summary: "duplicate a table to a remote cluster (waits until the start point is fixed)",
  details: [
    "The remote cluster must be in the meta server's [pegasus.clusters] and [duplication-group];",
    "the remote table must exist. Every write acknowledged after the answer is duplicated.",
    "-s (full duplication) copies the table's data too: the primaries checkpoint, the meta server",
    "creates the remote table and it copies the checkpoints, then the log ships. It answers at",
    "once (DS_PREPARE); query_dup -d shows the progress, wait_dup waits for it with a bar.",
  ],
  positionals: [{ name: "app_name" }, { name: "remote_cluster_name" }],
  flags: [
    {
      name: "sst",
      short: "s",
      kind: "switch",
      help: "full duplication: create the remote table and copy the data first",
    },
    ...REMOTE_TABLE_FLAGS,
    { name: "freezed", kind: "switch", help: "create it paused (DS_PAUSE); start it later" },
  ],
  parse: (args) => ({
    appName: tokenText(args.positional(0), "app_name", args.verb),
    remoteClusterName: tokenText(args.positional(1), "remote_cluster_name", args.verb),
    ...parseRemoteTable(args),
    checkpoint: args.has("sst"),
    freezed: args.has("freezed"),
  }),
  run: (context, { appName, ...options }) =>
    runAddDuplication(context, appName, options, pegasusStartHint),
});

const queryDup = defineVerb<{ appName: string; detailed: boolean }>({
  name: "query_dup",
  group: "duplication",
  summary: "the duplications of a table (-d: every partition's progress)",
  details: [
    "backlog = last committed decree − confirmed decree, summed over the partitions.",
    "A full sync (DS_PREPARE, DS_APP) adds a full_sync column: checkpoints prepared, then bytes",
    "copied or sent of the total and partitions done.",
  ],
  positionals: [{ name: "app_name" }],
  flags: [
    {
      name: "detail",
      short: "d",
      kind: "switch",
      help: "per partition: confirmed decree, last committed decree, backlog, full sync",
    },
  ],
  parse: (args) => ({
    appName: tokenText(args.positional(0), "app_name", args.verb),
    detailed: args.has("detail"),
  }),
  run: (context, r) => runQueryDuplications(context, r.appName, r.detailed),
});

interface ModifyRequest {
  readonly appName: string;
  readonly dupid: number;
}

function parseAppAndDupid(args: Args): ModifyRequest {
  return {
    appName: tokenText(args.positional(0), "app_name", args.verb),
    dupid: parseDupid(args.positional(1).text, args.verb),
  };
}

function statusVerb(name: string, status: DuplicationStatus, summary: string): AnyVerbSpec {
  return defineVerb<ModifyRequest>({
    name,
    group: "duplication",
    summary,
    positionals: [{ name: "app_name" }, { name: "dupid" }],
    flags: [],
    parse: parseAppAndDupid,
    run: (context, r) => runModifyDuplication(context, r.appName, r.dupid, { status }),
  });
}

const startDup = statusVerb(
  "start_dup",
  DuplicationStatus.DS_LOG,
  "start (resume) a paused duplication",
);
const pauseDup = statusVerb(
  "pause_dup",
  DuplicationStatus.DS_PAUSE,
  "pause a duplication; its log stays held from the confirmed decree",
);
const removeDup = statusVerb(
  "remove_dup",
  DuplicationStatus.DS_REMOVED,
  "remove a duplication; the replicas release its log",
);

export function parseFailMode(text: string, args: Args): DuplicationFailMode {
  const mode = FAIL_MODES.get(text);
  if (mode === undefined)
    throw args.error(`the fail mode must be one of ${FAIL_MODE_NAMES.join(", ")}, got "${text}"`);
  return mode;
}

const setDupFailMode = defineVerb<ModifyRequest & { failMode: DuplicationFailMode }>({
  name: "set_dup_fail_mode",
  group: "duplication",
  summary:
    "what the source does when it cannot ship: slow (retry), skip (dead-letter), fast (stop)",
  positionals: [{ name: "app_name" }, { name: "dupid" }, { name: FAIL_MODE_NAMES.join("|") }],
  flags: [],
  parse: (args) => ({
    ...parseAppAndDupid(args),
    failMode: parseFailMode(args.positional(2).text, args),
  }),
  run: (context, r) => runModifyDuplication(context, r.appName, r.dupid, { failMode: r.failMode }),
});

const resyncDup = defineVerb<ModifyRequest>({
  name: "resync_dup",
  group: "duplication",
  summary: "copy a table's data to the remote again, then ship the log (e.g. after log_truncated)",
  details: [
    "For a duplication in DS_LOG or DS_PAUSE: the primaries checkpoint (DS_PREPARE), send the",
    "checkpoints into the existing remote table (DS_APP; newer remote data wins), then ship the log",
    "from there (DS_LOG, or DS_PAUSE if it was paused). query_dup -d shows the progress, wait_dup",
    "waits for it with a bar.",
  ],
  positionals: [{ name: "app_name" }, { name: "dupid" }],
  flags: [],
  parse: parseAppAndDupid,
  run: (context, r) => runResyncDuplication(context, r.appName, r.dupid),
});

const waitDup = defineVerb<ModifyRequest>({
  name: "wait_dup",
  group: "duplication",
  summary: "wait until a duplication ships: its full sync or start done, with a progress bar",
  details: [
    "Asks the meta server every second while the duplication is in DS_INIT, DS_PREPARE or DS_APP;",
    "on a terminal a bar on stderr shows the full sync's bytes copied or sent. It answers with the",
    "status reached (DS_LOG, or DS_PAUSE when freezed). Ctrl-C stops waiting, not the duplication.",
  ],
  positionals: [{ name: "app_name" }, { name: "dupid" }],
  flags: [],
  parse: parseAppAndDupid,
  run: (context, r) => runWaitDuplication(context, r.appName, r.dupid, pegasusStartHint),
});

export const dupVerbs: readonly AnyVerbSpec[] = [
  addDup,
  queryDup,
  startDup,
  pauseDup,
  removeDup,
  setDupFailMode,
  resyncDup,
  waitDup,
];
