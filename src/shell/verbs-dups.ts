/**
 * `dups`: the duplications of every table whose name matches, with their progress, filtered to
 * those lagging (`-g`) or needing attention (`-u`), and a summary (Pegasus shell `dups`, ref
 * §7.1). One meta-server call (`list_duplications`).
 */
import {
  type DuplicationDetail,
  PatternMatchType,
  type QueryDuplicationResponse,
} from "../protocol/index.ts";
import { tokenText } from "./args.ts";
import { anyFullSync } from "./dup-full-sync-view.ts";
import {
  type DuplicationProgress,
  duplicationHeader,
  duplicationJson,
  duplicationProgress,
  duplicationRow,
  failureLines,
  partitionHeader,
  partitionRows,
  type UnhealthyReason,
  unhealthyReasons,
} from "./dup-view.ts";
import { formatPairs, formatTable, plural } from "./render.ts";
import { type AnyVerbSpec, defineVerb, type VerbResult } from "./verb-spec.ts";

/** Backlog (mutations) from which `dups -u` calls a duplication lagging, unless `-g` says. */
export const DUPS_LAGGING_BACKLOG_DEFAULT = 10_000;

const MATCH_TYPES: ReadonlyMap<string, PatternMatchType> = new Map([
  ["all", PatternMatchType.MATCH_ALL],
  ["exact", PatternMatchType.MATCH_EXACT],
  ["anywhere", PatternMatchType.MATCH_ANYWHERE],
  ["prefix", PatternMatchType.MATCH_PREFIX],
  ["postfix", PatternMatchType.MATCH_POSTFIX],
]);

interface DupsRequest {
  readonly appNamePattern: string | undefined;
  readonly matchType: PatternMatchType;
  readonly listPartitions: boolean;
  /** `-g`: without -u, list only backlogs ≥ it; with -u, the lagging threshold. */
  readonly progressGap: number | undefined;
  readonly unhealthy: boolean;
  readonly json: boolean;
}

interface Listed {
  readonly app: QueryDuplicationResponse;
  readonly dup: DuplicationDetail;
  readonly progress: DuplicationProgress;
  readonly reasons: readonly UnhealthyReason[];
}

function countBy(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of [...values].sort()) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

function summaryOf(
  apps: readonly QueryDuplicationResponse[],
  all: readonly Listed[],
  listed: readonly Listed[],
  lagGap: number,
) {
  return {
    totalAppCount: apps.length,
    duplicatingAppCount: apps.filter((a) => a.duplications.length > 0).length,
    totalDuplicationCount: all.length,
    unhealthyDuplicationCount: all.filter((l) => l.reasons.length > 0).length,
    listedDuplicationCount: listed.length,
    countByStatus: countBy(all.map((l) => l.dup.status)),
    countByRemoteCluster: countBy(all.map((l) => l.dup.remoteClusterName)),
    totalBacklog: all.reduce((sum, l) => sum + (l.progress.backlog ?? 0), 0),
    lagGap,
  };
}

function summaryLines(summary: ReturnType<typeof summaryOf>): string[] {
  return formatPairs([
    ["total_app_count", String(summary.totalAppCount)],
    ["duplicating_app_count", String(summary.duplicatingAppCount)],
    ["total_duplication_count", String(summary.totalDuplicationCount)],
    ...Object.entries(summary.countByStatus).map(
      ([status, n]) => [`duplication_count_by_status(${status})`, String(n)] as const,
    ),
    ...Object.entries(summary.countByRemoteCluster).map(
      ([cluster, n]) => [`duplication_count_by_remote_cluster(${cluster})`, String(n)] as const,
    ),
    [
      `unhealthy_duplication_count(lag_gap=${summary.lagGap})`,
      String(summary.unhealthyDuplicationCount),
    ],
    ["listed_duplication_count", String(summary.listedDuplicationCount)],
    ["total_backlog", String(summary.totalBacklog)],
  ]);
}

const dups = defineVerb<DupsRequest>({
  name: "dups",
  group: "duplication",
  summary: "the duplications of every matching table, with progress and a summary",
  details: [
    "backlog = last committed decree − confirmed decree, summed over the partitions.",
    "-a without -m matches anywhere in the name. -g alone lists the duplications whose backlog",
    "is at least the gap; with -u it is the backlog from which a duplication is lagging",
    `(default ${DUPS_LAGGING_BACKLOG_DEFAULT}). -u lists those paused, not started, failed, lagging`,
    "or with partitions whose progress is unknown.",
  ],
  positionals: [],
  flags: [
    {
      name: "app_name_pattern",
      short: "a",
      kind: "string",
      help: "only tables whose name matches (see -m)",
    },
    {
      name: "match_type",
      short: "m",
      kind: "enum",
      values: [...MATCH_TYPES.keys()],
      help: "how -a matches (default anywhere; all: every table, without -a)",
    },
    {
      name: "list_partitions",
      short: "p",
      kind: "switch",
      help: "show each partition's progress",
    },
    {
      name: "progress_gap",
      short: "g",
      kind: "int",
      min: 0,
      help: "only backlogs of at least num mutations (with -u: the lagging threshold)",
    },
    {
      name: "unhealthy",
      short: "u",
      kind: "switch",
      help: "only duplications paused, not started, failed, lagging or with unknown progress",
    },
    { name: "json", short: "j", kind: "switch", help: "print the result as indented JSON" },
  ],
  parse(args) {
    const pattern = args.token("app_name_pattern");
    const match = args.choice("match_type");
    let matchType: PatternMatchType = PatternMatchType.MATCH_ALL;
    if (pattern === undefined) {
      if (match !== undefined && match !== "all")
        throw args.error(`-m ${match} needs -a <pattern>`);
    } else {
      if (match === "all") throw args.error("-m all lists every table: drop -a or pick another -m");
      matchType = MATCH_TYPES.get(match ?? "anywhere") ?? PatternMatchType.MATCH_ANYWHERE;
    }
    return {
      appNamePattern: pattern === undefined ? undefined : tokenText(pattern, "-a", args.verb),
      matchType,
      listPartitions: args.has("list_partitions"),
      progressGap: args.int("progress_gap"),
      unhealthy: args.has("unhealthy"),
      json: args.has("json"),
    };
  },
  async run(context, r): Promise<VerbResult> {
    const { apps } = await context.backend.listDuplications(
      r.appNamePattern === undefined
        ? { matchType: r.matchType }
        : { appNamePattern: r.appNamePattern, matchType: r.matchType },
    );
    context.rememberTables(apps.map((a) => a.appName));
    const lagGap = r.progressGap ?? DUPS_LAGGING_BACKLOG_DEFAULT;
    const all: Listed[] = apps.flatMap((app) =>
      app.duplications.map((dup) => ({
        app,
        dup,
        progress: duplicationProgress(dup),
        reasons: unhealthyReasons(dup, lagGap),
      })),
    );
    const listed = all.filter((l) => {
      if (r.unhealthy) return l.reasons.length > 0;
      if (r.progressGap === undefined) return true;
      return l.progress.backlog !== undefined && l.progress.backlog >= r.progressGap;
    });
    const summary = summaryOf(apps, all, listed, lagGap);
    const json = {
      duplications: listed.map((l) => ({
        appId: l.app.appId,
        appName: l.app.appName,
        ...(duplicationJson(l.dup) as object),
        unhealthy: l.reasons,
      })),
      summary,
    };
    if (r.json) return { json, lines: JSON.stringify(json, null, 2).split("\n") };
    const listedDups = listed.map((l) => l.dup);
    const withFullSync = anyFullSync(listedDups);
    const header = [
      "app_id",
      "app_name",
      ...duplicationHeader(listedDups),
      ...(r.unhealthy ? ["unhealthy"] : []),
    ];
    const rows = listed.map((l) => [
      String(l.app.appId),
      l.app.appName,
      ...duplicationRow(l.dup, withFullSync),
      ...(r.unhealthy ? [l.reasons.join(",")] : []),
    ]);
    const lines =
      listed.length === 0
        ? [
            `no duplication listed (${plural(all.length, "duplication")} in ${plural(apps.length, "table")})`,
          ]
        : formatTable(header, rows);
    const failures = listed.flatMap((l) =>
      failureLines(l.dup).map((line) => `${l.app.appName} ${line}`),
    );
    if (failures.length > 0) lines.push("", ...failures);
    if (r.listPartitions && listed.length > 0) {
      const partitionLines = listed.flatMap((l) =>
        partitionRows(l.dup, withFullSync).map((row) => [
          l.app.appName,
          String(l.dup.dupid),
          ...row,
        ]),
      );
      lines.push(
        "",
        ...formatTable(["app_name", "dupid", ...partitionHeader(withFullSync)], partitionLines),
      );
    }
    lines.push("", ...summaryLines(summary));
    return { json, lines };
  },
});

export const dupsVerbs: readonly AnyVerbSpec[] = [dups];
