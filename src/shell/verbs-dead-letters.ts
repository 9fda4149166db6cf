/**
 * Dead letters of FAIL_SKIP duplications (docs/duplication.md, "Dead letters"): dup_dead_letters
 * lists them, replay_dead_letters sends them again. Letters live on the replica servers of the
 * source cluster, so both ask the meta server for the nodes and call every alive one
 * (DeadLetterMethod, protocol/dead-letter-messages.ts). A dead node is not asked: its letters stay
 * on its disk until it is back.
 */
import { TalariaError } from "../common/index.ts";
import {
  DEAD_LETTER_LIST_LIMIT_MAX,
  DeadLetterMethod,
  type DeadLetterSummary,
  decodeListDeadLettersResponse,
  decodeReplayDeadLettersResponse,
  type ListDeadLettersRequest,
  type ListDeadLettersResponse,
  NodeStatus,
  type ReplayDeadLettersResponse,
} from "../protocol/index.ts";
import { tokenText } from "./args.ts";
import { errorText } from "./dup-view.ts";
import { callEachNode, type NodeOutcome } from "./node-fanout.ts";
import { formatTable, formatTimeMs, plural } from "./render.ts";
import { type AnyVerbSpec, defineVerb, type VerbContext, type VerbResult } from "./verb-spec.ts";
import { parseDupid } from "./verbs-dup.ts";

/** Letters each node lists by default (`-n`); at most DEAD_LETTER_LIST_LIMIT_MAX. */
export const DEAD_LETTERS_PER_NODE_DEFAULT = 100;
/** Deadline of one node's LIST answer. */
export const DEAD_LETTER_LIST_TIMEOUT_MS = 10_000;
/** Deadline of one node's REPLAY: it sends up to a list's worth of letters to the remote. */
export const DEAD_LETTER_REPLAY_TIMEOUT_MS = 120_000;

interface Nodes {
  readonly appId: number;
  readonly alive: readonly string[];
  readonly dead: readonly string[];
}

async function nodesOf(context: VerbContext, appName: string): Promise<Nodes> {
  const { app } = await context.backend.queryConfiguration(appName);
  context.rememberTables([app.appName]);
  const { nodes } = await context.backend.listNodes({});
  const alive = nodes.filter((n) => n.status === NodeStatus.ALIVE).map((n) => n.address);
  const dead = nodes.filter((n) => n.status !== NodeStatus.ALIVE).map((n) => n.address);
  return { appId: app.appId, alive, dead };
}

function failedNodes<T>(outcomes: readonly NodeOutcome<T>[]) {
  return outcomes.flatMap((o) =>
    o.ok ? [] : [{ node: o.node, code: o.error.code, message: o.error.message }],
  );
}

function nodeNotes(nodes: Nodes, failed: ReturnType<typeof failedNodes>): string[] {
  return [
    ...failed.map((f) => `node ${f.node} did not answer: ${f.message}`),
    ...(nodes.dead.length === 0
      ? []
      : [`not asked (dead): ${nodes.dead.join(", ")}; their letters stay on their disks`]),
  ];
}

/** (appId, partition index) of a gpid key, for sorting; unparsable keys sort last. */
function gpidOrder(gpid: string): [number, number] {
  const [app, pidx] = gpid.split(".").map(Number);
  return [app ?? Number.MAX_SAFE_INTEGER, pidx ?? Number.MAX_SAFE_INTEGER];
}

type NodeLetter = DeadLetterSummary & { readonly node: string };

function compareLetters(a: NodeLetter, b: NodeLetter): number {
  const [appA, pidxA] = gpidOrder(a.gpid);
  const [appB, pidxB] = gpidOrder(b.gpid);
  return (
    appA - appB ||
    pidxA - pidxB ||
    a.dupid - b.dupid ||
    a.id - b.id ||
    (a.node < b.node ? -1 : a.node > b.node ? 1 : 0)
  );
}

interface ListRequest {
  readonly appName: string;
  readonly dupid: number | undefined;
  readonly limit: number;
}

const dupDeadLetters = defineVerb<ListRequest>({
  name: "dup_dead_letters",
  group: "duplication",
  summary: "the dead letters FAIL_SKIP wrote for a table's duplications, from every replica server",
  details: [
    "A letter holds entries the remote kept refusing (replay_dead_letters sends them again), or",
    "records plog decrees that could not be read (0 entries: only a full re-sync covers them).",
  ],
  positionals: [{ name: "app_name" }, { name: "dupid", optional: true }],
  flags: [
    {
      name: "max_count",
      short: "n",
      kind: "int",
      min: 1,
      max: DEAD_LETTER_LIST_LIMIT_MAX,
      help: `letters listed per replica server (default ${DEAD_LETTERS_PER_NODE_DEFAULT})`,
    },
  ],
  parse(args) {
    const dupid = args.optionalPositional(1);
    return {
      appName: tokenText(args.positional(0), "app_name", args.verb),
      dupid: dupid === undefined ? undefined : parseDupid(dupid.text, args.verb),
      limit: args.int("max_count") ?? DEAD_LETTERS_PER_NODE_DEFAULT,
    };
  },
  async run(context, r): Promise<VerbResult> {
    const nodes = await nodesOf(context, r.appName);
    const request: ListDeadLettersRequest = {
      appId: nodes.appId,
      ...(r.dupid === undefined ? {} : { dupid: r.dupid }),
      limit: r.limit,
    };
    const outcomes = await callEachNode(
      nodes.alive,
      async (node): Promise<ListDeadLettersResponse> =>
        decodeListDeadLettersResponse(
          await context.backend.callNode(
            node,
            DeadLetterMethod.LIST,
            request,
            DEAD_LETTER_LIST_TIMEOUT_MS,
          ),
        ),
      context.signal,
    );
    const answers = outcomes.flatMap((o) => (o.ok ? [o] : []));
    const letters: NodeLetter[] = answers
      .flatMap((o) => o.value.letters.map((letter) => ({ node: o.node, ...letter })))
      .sort(compareLetters);
    const counts = answers.reduce(
      (sum, o) => ({
        letters: sum.letters + o.value.counts.letters,
        entries: sum.entries + o.value.counts.entries,
      }),
      { letters: 0, entries: 0 },
    );
    const failed = failedNodes(outcomes);
    const lines =
      letters.length === 0
        ? [
            `no dead letter of table ${r.appName}${r.dupid === undefined ? "" : ` dupid ${r.dupid}`}`,
          ]
        : formatTable(
            ["node", "gpid", "dupid", "id", "created_at", "entries", "decrees", "error"],
            letters.map((l) => [
              l.node,
              l.gpid,
              String(l.dupid),
              String(l.id),
              formatTimeMs(l.createdAtMs),
              String(l.entries),
              `${l.fromDecree}-${l.toDecree}`,
              errorText(l.error.code, l.error.message),
            ]),
          );
    lines.push(
      "",
      `${plural(counts.letters, "letter")} (${plural(counts.entries, "entry", "entries")}) on ${answers.length} of ${plural(nodes.alive.length, "alive node")}`,
    );
    if (letters.length < counts.letters)
      lines.push(
        `listed ${letters.length}: at most ${r.limit} per node (-n, up to ${DEAD_LETTER_LIST_LIMIT_MAX})`,
      );
    lines.push(...nodeNotes(nodes, failed));
    return {
      json: {
        appName: r.appName,
        appId: nodes.appId,
        ...(r.dupid === undefined ? {} : { dupid: r.dupid }),
        letters,
        counts,
        nodes: answers.map((o) => ({ node: o.node, counts: o.value.counts })),
        failedNodes: failed,
        deadNodes: nodes.dead,
      },
      lines,
    };
  },
});

interface ReplayRequest {
  readonly appName: string;
  readonly dupid: number;
}

const REPLAY_SUMS = [
  "replayedLetters",
  "replayedEntries",
  "supersededRecords",
  "failed",
  "notReplayable",
] as const;

const replayDeadLetters = defineVerb<ReplayRequest>({
  name: "replay_dead_letters",
  group: "duplication",
  summary: "send a duplication's dead letters to the remote again, on every replica server",
  details: [
    "Safe at any time and any number of times: the remote keeps the newest write of each key,",
    "and a record changed here since it was dead-lettered is left out (superseded_records), so",
    "a late replay cannot bring back a key deleted meanwhile.",
    "Letters the remote acknowledged are removed; the others are kept. A node that does not",
    "answer fails the command (exit 1) after the others replayed: run it again.",
  ],
  positionals: [{ name: "app_name" }, { name: "dupid" }],
  flags: [],
  parse: (args) => ({
    appName: tokenText(args.positional(0), "app_name", args.verb),
    dupid: parseDupid(args.positional(1).text, args.verb),
  }),
  async run(context, r): Promise<VerbResult> {
    const nodes = await nodesOf(context, r.appName);
    const request = { appId: nodes.appId, dupid: r.dupid };
    const outcomes = await callEachNode(
      nodes.alive,
      async (node): Promise<ReplayDeadLettersResponse> =>
        decodeReplayDeadLettersResponse(
          await context.backend.callNode(
            node,
            DeadLetterMethod.REPLAY,
            request,
            DEAD_LETTER_REPLAY_TIMEOUT_MS,
          ),
        ),
      context.signal,
    );
    const answers = outcomes.flatMap((o) => (o.ok ? [o.value] : []));
    const total = Object.fromEntries(
      REPLAY_SUMS.map((key) => [key, answers.reduce((sum, a) => sum + a[key], 0)]),
    ) as Record<(typeof REPLAY_SUMS)[number], number>;
    const failed = failedNodes(outcomes);
    const firstFailure = outcomes.find((o) => !o.ok);
    if (firstFailure !== undefined && !firstFailure.ok) {
      throw new TalariaError(
        firstFailure.error.code,
        `replay_dead_letters reached ${answers.length} of ${plural(nodes.alive.length, "alive node")} ` +
          `(${firstFailure.node}: ${firstFailure.error.message}); the others replayed ` +
          `${plural(total.replayedLetters, "letter")}; replaying again is safe`,
        {
          details: {
            appName: r.appName,
            dupid: r.dupid,
            nodes: answers,
            total,
            failedNodes: failed,
          },
          cause: firstFailure.error,
        },
      );
    }
    const row = (node: string, v: Record<(typeof REPLAY_SUMS)[number], number>) => [
      node,
      ...REPLAY_SUMS.map((key) => String(v[key])),
    ];
    const lines = formatTable(
      [
        "node",
        "replayed_letters",
        "replayed_entries",
        "superseded_records",
        "failed",
        "not_replayable",
      ],
      [...answers.map((a) => row(a.node, a)), row("total", total)],
    );
    if (total.failed > 0)
      lines.push(
        `${plural(total.failed, "letter")} could not be sent and ${total.failed === 1 ? "was" : "were"} kept: replay again once the remote accepts them`,
      );
    if (total.notReplayable > 0)
      lines.push(
        `${plural(total.notReplayable, "letter")} record unreadable plog decrees: not replayable, kept for a full re-sync to cover`,
      );
    lines.push(...nodeNotes(nodes, failed));
    return {
      json: {
        appName: r.appName,
        appId: nodes.appId,
        dupid: r.dupid,
        nodes: answers,
        total,
        deadNodes: nodes.dead,
      },
      lines,
    };
  },
});

export const deadLetterVerbs: readonly AnyVerbSpec[] = [dupDeadLetters, replayDeadLetters];
