/**
 * Duplication verbs, Go admin-cli dialect (ref §7.2): `dup <sub-command>` on the current table —
 * add, list (ls), pause, start, remove (rm), fail_mode, and Talaria's resync and wait. The same
 * meta-server calls as the Pegasus shell dialect (verbs-dup.ts).
 */

import { AssertionError, assert } from "../common/index.ts";
import { type DuplicationFailMode, DuplicationStatus } from "../protocol/index.ts";
import { tokenText } from "./args.ts";
import { DUPID_MAX, FAIL_MODE_NAMES } from "./dup-view.ts";
import { runWaitDuplication } from "./dup-wait.ts";
import { type AnyVerbSpec, defineVerb, type FlagSpec } from "./verb-spec.ts";
import {
  type AddDupOptions,
  parseFailMode,
  parseRemoteTable,
  REMOTE_TABLE_FLAGS,
  runAddDuplication,
  runModifyDuplication,
  runQueryDuplications,
  runResyncDuplication,
  type WatchHint,
} from "./verbs-dup.ts";

const adminWatchHint: WatchHint = (_app, dupid) =>
  `dup list -d, or wait for it with dup wait -d ${dupid}`;
const adminStartHint = (_app: string, dupid: number) => `dup start -d ${dupid}`;

const DUPID_FLAG: FlagSpec = {
  name: "dupid",
  short: "d",
  kind: "int",
  min: 1,
  max: DUPID_MAX,
  required: true,
  help: "the duplication (dup list shows the ids)",
};

const add = defineVerb<AddDupOptions>({
  name: "dup add",
  group: "duplication",
  needsTable: true,
  summary: "duplicate the current table to a remote cluster (waits until the start point is fixed)",
  details: [
    "-p (full duplication) copies the table's data too: checkpoints, a remote table created from",
    "them, then the log. It answers at once (DS_PREPARE); dup list -d shows the progress.",
  ],
  positionals: [],
  flags: [
    {
      name: "cluster",
      short: "c",
      kind: "string",
      required: true,
      help: "the remote cluster (a [pegasus.clusters] entry of the meta server)",
    },
    ...REMOTE_TABLE_FLAGS,
    { name: "freezed", short: "f", kind: "switch", help: "create it paused (DS_PAUSE)" },
    {
      name: "checkpoint",
      short: "p",
      kind: "switch",
      help: "full duplication: create the remote table and copy the data first",
    },
  ],
  parse(args) {
    const cluster = args.token("cluster");
    assert(cluster !== undefined, "dup add: -c is required");
    return {
      remoteClusterName: tokenText(cluster, "-c", args.verb),
      ...parseRemoteTable(args),
      checkpoint: args.has("checkpoint"),
      freezed: args.has("freezed"),
    };
  },
  run: (context, options) =>
    runAddDuplication(context, context.table().name, options, adminStartHint, adminWatchHint),
});

const list = defineVerb<{ detailed: boolean }>({
  name: "dup list",
  aliases: ["ls"],
  group: "duplication",
  needsTable: true,
  summary: "the duplications of the current table (-d: every partition's progress)",
  positionals: [],
  flags: [
    {
      name: "detail",
      short: "d",
      kind: "switch",
      help: "per partition: confirmed decree, last committed decree, backlog, full sync",
    },
  ],
  parse: (args) => ({ detailed: args.has("detail") }),
  run: (context, r) => runQueryDuplications(context, context.table().name, r.detailed),
});

function dupidOf(args: { int(flag: string): number | undefined }): number {
  const dupid = args.int("dupid");
  assert(dupid !== undefined, "-d is required");
  return dupid;
}

function statusSub(
  name: string,
  aliases: readonly string[],
  status: DuplicationStatus,
  summary: string,
): AnyVerbSpec {
  return defineVerb<{ dupid: number }>({
    name,
    ...(aliases.length === 0 ? {} : { aliases }),
    group: "duplication",
    needsTable: true,
    summary,
    positionals: [],
    flags: [DUPID_FLAG],
    parse: (args) => ({ dupid: dupidOf(args) }),
    run: (context, r) => runModifyDuplication(context, context.table().name, r.dupid, { status }),
  });
}

const failMode = defineVerb<{ dupid: number; failMode: DuplicationFailMode }>({
  name: "dup fail_mode",
  group: "duplication",
  needsTable: true,
  summary:
    "what the source does when it cannot ship: slow (retry), skip (dead-letter), fast (stop)",
  positionals: [{ name: FAIL_MODE_NAMES.join("|") }],
  flags: [DUPID_FLAG],
  parse: (args) => ({
    dupid: dupidOf(args),
    failMode: parseFailMode(args.positional(0).text, args),
  }),
  run: (context, r) =>
    runModifyDuplication(context, context.table().name, r.dupid, { failMode: r.failMode }),
});

const SUBCOMMANDS: readonly AnyVerbSpec[] = [
  add,
  list,
  statusSub(
    "dup pause",
    [],
    DuplicationStatus.DS_PAUSE,
    "pause a duplication of the current table",
  ),
  statusSub("dup start", [], DuplicationStatus.DS_LOG, "start (resume) a paused duplication"),
  statusSub("dup remove", ["rm"], DuplicationStatus.DS_REMOVED, "remove a duplication"),
  failMode,
  defineVerb<{ dupid: number }>({
    name: "dup resync",
    group: "duplication",
    needsTable: true,
    summary: "copy the data to the remote again, then ship the log (e.g. after log_truncated)",
    positionals: [],
    flags: [DUPID_FLAG],
    parse: (args) => ({ dupid: dupidOf(args) }),
    run: (context, r) =>
      runResyncDuplication(context, context.table().name, r.dupid, adminWatchHint),
  }),
  defineVerb<{ dupid: number }>({
    name: "dup wait",
    group: "duplication",
    needsTable: true,
    summary: "wait until a duplication ships (full sync or start done), with a progress bar",
    positionals: [],
    flags: [DUPID_FLAG],
    parse: (args) => ({ dupid: dupidOf(args) }),
    run: (context, r) => runWaitDuplication(context, context.table().name, r.dupid, adminStartHint),
  }),
];

const dup = defineVerb<never>({
  name: "dup",
  group: "duplication",
  needsTable: true,
  summary:
    "duplications of the current table, admin-cli style: dup add|list|pause|start|remove|fail_mode|resync|wait",
  positionals: [
    { name: SUBCOMMANDS.map((s) => s.name.slice("dup ".length)).join("|") },
    { name: "flags", optional: true, variadic: true },
  ],
  flags: [],
  subcommands: SUBCOMMANDS,
  parse: () => {
    throw new AssertionError("dup parses through its sub-commands");
  },
  run: () => {
    throw new AssertionError("dup runs through its sub-commands");
  },
});

export const dupAdminVerbs: readonly AnyVerbSpec[] = [dup];
