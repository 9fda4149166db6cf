/**
 * Cluster and table administration verbs (Pegasus shell names): cluster_info, nodes, ls, app,
 * create, drop, recall, use. Each is one meta-server call.
 */
import {
  type AppInfo,
  AppStatus,
  gpidKey,
  NodeStatus,
  type PartitionConfiguration,
} from "../protocol/index.ts";
import { parseIntText, tokenText } from "./args.ts";
import { formatPairs, formatTable, formatTimeMs, plural } from "./render.ts";
import { type AnyVerbSpec, defineVerb, type VerbResult } from "./verb-spec.ts";

/** Pegasus's `create` defaults. */
export const CREATE_PARTITION_COUNT_DEFAULT = 4;
export const CREATE_REPLICA_COUNT_DEFAULT = 3;
/** Bounds the shell checks before asking (the meta server has its own, possibly tighter, limits). */
export const CREATE_PARTITION_COUNT_MAX = 65_536;
export const CREATE_REPLICA_COUNT_MAX = 16;
/** Most `-e k=v` envs one `create` sets. */
export const CREATE_ENVS_MAX = 64;

function appSummary(app: AppInfo): string {
  return `app_id=${app.appId} app_name=${app.appName} partition_count=${app.partitionCount} replica_count=${app.replicaCount}`;
}

function isHealthy(partition: PartitionConfiguration): boolean {
  return (
    partition.primary !== undefined && 1 + partition.secondaries.length >= partition.maxReplicaCount
  );
}

const clusterInfo = defineVerb<null>({
  name: "cluster_info",
  group: "cluster",
  summary: "summary of the cluster: nodes, tables and partition health",
  positionals: [],
  flags: [],
  parse: () => null,
  async run(context): Promise<VerbResult> {
    const info = await context.backend.clusterInfo();
    const p = info.partitions;
    return {
      json: info,
      lines: formatPairs([
        ["alive_nodes", String(info.nodes.alive)],
        ["dead_nodes", String(info.nodes.dead)],
        ["available_tables", String(info.apps.available)],
        ["dropped_tables", String(info.apps.dropped)],
        ["partitions", String(p.total)],
        ["healthy_partitions", String(p.healthy)],
        ["writable_ill_partitions", String(p.writableIll)],
        ["unwritable_partitions", String(p.unwritable)],
        ["persists_in_flight", String(info.persistsInFlight)],
        ["ddl_queued", String(info.ddlQueued)],
      ]),
    };
  },
});

const NODE_STATUS_FILTERS = ["all", "alive", "dead", "unalive"] as const;

const nodes = defineVerb<{ status: NodeStatus | undefined }>({
  name: "nodes",
  group: "cluster",
  summary: "the replica servers with their status and primary / replica counts",
  details: ["-s unalive is Pegasus's spelling of dead."],
  positionals: [],
  flags: [
    {
      name: "status",
      short: "s",
      kind: "enum",
      values: NODE_STATUS_FILTERS,
      help: "only nodes with this status",
    },
  ],
  parse(args) {
    const status = args.choice("status");
    if (status === "alive") return { status: NodeStatus.ALIVE };
    if (status === "dead" || status === "unalive") return { status: NodeStatus.DEAD };
    return { status: undefined };
  },
  async run(context, request): Promise<VerbResult> {
    const { nodes: list } = await context.backend.listNodes(
      request.status === undefined ? {} : { status: request.status },
    );
    const alive = list.filter((n) => n.status === NodeStatus.ALIVE).length;
    const rows = list.map((n) => [
      n.address,
      n.status.toLowerCase(),
      String(n.primaryCount),
      String(n.replicaCount),
      formatTimeMs(n.lastBeaconMs),
    ]);
    return {
      json: { nodes: list },
      lines: [
        ...formatTable(
          ["address", "status", "primary_count", "replica_count", "last_beacon"],
          rows,
        ),
        "",
        `${plural(list.length, "node")} (${alive} alive, ${list.length - alive} dead)`,
      ],
    };
  },
});

const ls = defineVerb<{ all: boolean }>({
  name: "ls",
  group: "tables",
  summary: "list the tables (-a: dropped ones that can still be recalled too)",
  positionals: [],
  flags: [{ name: "all", short: "a", kind: "switch", help: "include dropped tables" }],
  parse: (args) => ({ all: args.has("all") }),
  async run(context, request): Promise<VerbResult> {
    const { apps } = await context.backend.listApps(
      request.all ? {} : { status: AppStatus.AVAILABLE },
    );
    context.rememberTables(
      apps.filter((a) => a.status === AppStatus.AVAILABLE).map((a) => a.appName),
    );
    const rows = apps.map((a) => [
      String(a.appId),
      a.status.toLowerCase(),
      a.appName,
      String(a.partitionCount),
      String(a.replicaCount),
      String(Object.keys(a.envs).length),
      formatTimeMs(a.createdAtMs),
      ...(request.all ? [formatTimeMs(a.dropExpireAtMs)] : []),
    ]);
    const header = [
      "app_id",
      "status",
      "app_name",
      "partition_count",
      "replica_count",
      "envs",
      "created_at",
      ...(request.all ? ["drop_expire_at"] : []),
    ];
    return {
      json: { apps },
      lines: [...formatTable(header, rows), "", plural(apps.length, "table")],
    };
  },
});

function partitionRow(partition: PartitionConfiguration): string[] {
  const members = (partition.primary === undefined ? 0 : 1) + partition.secondaries.length;
  return [
    String(partition.gpid.partitionIndex),
    gpidKey(partition.gpid),
    String(partition.ballot),
    `${members}/${partition.maxReplicaCount}`,
    partition.primary ?? "-",
    partition.secondaries.length === 0 ? "-" : partition.secondaries.join(","),
    String(partition.lastCommittedDecree),
  ];
}

const app = defineVerb<{ name: string; detailed: boolean }>({
  name: "app",
  group: "tables",
  summary: "describe a table (-d: every partition's ballot, primary and secondaries)",
  positionals: [{ name: "app_name" }],
  flags: [{ name: "detailed", short: "d", kind: "switch", help: "list every partition" }],
  parse: (args) => ({
    name: tokenText(args.positional(0), "app_name", args.verb),
    detailed: args.has("detailed"),
  }),
  async run(context, request): Promise<VerbResult> {
    const { app: info, partitions } = await context.backend.queryConfiguration(request.name);
    context.rememberTables([info.appName]);
    const healthy = partitions.filter(isHealthy).length;
    const lines = formatPairs([
      ["app_name", info.appName],
      ["app_id", String(info.appId)],
      ["status", info.status.toLowerCase()],
      ["partition_count", String(info.partitionCount)],
      ["replica_count", String(info.replicaCount)],
      ["created_at", formatTimeMs(info.createdAtMs)],
      ["envs", String(Object.keys(info.envs).length)],
      ["healthy_partitions", `${healthy}/${partitions.length}`],
    ]);
    if (request.detailed) {
      const header = [
        "pidx",
        "gpid",
        "ballot",
        "replicas",
        "primary",
        "secondaries",
        "last_committed_decree",
      ];
      lines.push("", ...formatTable(header, partitions.map(partitionRow)));
    }
    return {
      json: request.detailed
        ? { app: info, partitions }
        : { app: info, healthyPartitions: healthy },
      lines,
    };
  },
});

interface CreateRequest {
  readonly appName: string;
  readonly partitionCount: number;
  readonly replicaCount: number;
  readonly envs: Readonly<Record<string, string>>;
}

const create = defineVerb<CreateRequest>({
  name: "create",
  group: "tables",
  summary: "create a table",
  details: [
    "-e takes one key=value and may repeat (values may contain commas, e.g. throttling rules).",
  ],
  positionals: [{ name: "app_name" }],
  flags: [
    {
      name: "partition_count",
      short: "p",
      kind: "int",
      min: 1,
      max: CREATE_PARTITION_COUNT_MAX,
      help: `partitions (default ${CREATE_PARTITION_COUNT_DEFAULT})`,
    },
    {
      name: "replica_count",
      short: "r",
      kind: "int",
      min: 1,
      max: CREATE_REPLICA_COUNT_MAX,
      help: `replicas of each partition (default ${CREATE_REPLICA_COUNT_DEFAULT})`,
    },
    {
      name: "envs",
      short: "e",
      kind: "string",
      valueName: "key=value",
      repeatable: true,
      help: "an app env to set at creation",
    },
  ],
  parse(args) {
    const envs: Record<string, string> = {};
    const given = args.tokens("envs");
    if (given.length > CREATE_ENVS_MAX) throw args.error(`at most ${CREATE_ENVS_MAX} -e envs`);
    for (const token of given) {
      const text = tokenText(token, "-e", args.verb);
      const equals = text.indexOf("=");
      if (equals <= 0) throw args.error(`-e takes key=value, got "${text}"`);
      envs[text.slice(0, equals)] = text.slice(equals + 1);
    }
    return {
      appName: tokenText(args.positional(0), "app_name", args.verb),
      partitionCount: args.int("partition_count") ?? CREATE_PARTITION_COUNT_DEFAULT,
      replicaCount: args.int("replica_count") ?? CREATE_REPLICA_COUNT_DEFAULT,
      envs,
    };
  },
  async run(context, request): Promise<VerbResult> {
    const { envs, ...rest } = request;
    const created = await context.backend.createApp(
      Object.keys(envs).length === 0 ? rest : request,
    );
    context.rememberTables([created.app.appName]);
    return {
      json: { app: created.app },
      lines: [`create app "${created.app.appName}" succeed: ${appSummary(created.app)}`],
    };
  },
});

/** Longest `drop --reserve_seconds`: one year. */
export const DROP_RESERVE_SECONDS_MAX = 365 * 24 * 3600;

const drop = defineVerb<{ appName: string; reserveSeconds: number | undefined }>({
  name: "drop",
  group: "tables",
  summary: "drop a table; it can be recalled until its reserve time is over",
  positionals: [{ name: "app_name" }],
  flags: [
    {
      name: "reserve_seconds",
      short: "r",
      kind: "int",
      min: 0,
      max: DROP_RESERVE_SECONDS_MAX,
      help: "how long the dropped table stays recallable (default: the meta server's setting)",
    },
  ],
  parse: (args) => ({
    appName: tokenText(args.positional(0), "app_name", args.verb),
    reserveSeconds: args.int("reserve_seconds"),
  }),
  async run(context, request): Promise<VerbResult> {
    const { app: dropped } = await context.backend.dropApp(
      request.reserveSeconds === undefined
        ? { appName: request.appName }
        : { appName: request.appName, reserveSeconds: request.reserveSeconds },
    );
    context.rememberTables([], [dropped.appName]);
    return {
      json: { app: dropped },
      lines: [
        `drop app "${dropped.appName}" succeed; recall it with: recall ${dropped.appId} ` +
          `(until ${formatTimeMs(dropped.dropExpireAtMs)})`,
      ],
    };
  },
});

/** Largest app id `recall` accepts (the meta server validates ids as 32-bit). */
const APP_ID_MAX = 2 ** 31 - 1;

const recall = defineVerb<{ appId: number; newAppName: string | undefined }>({
  name: "recall",
  group: "tables",
  summary: "bring back a dropped table, optionally under a new name",
  positionals: [{ name: "app_id" }, { name: "new_app_name", optional: true }],
  flags: [],
  parse(args) {
    const name = args.optionalPositional(1);
    return {
      appId: parseIntText(args.positional(0).text, "app_id", 1, APP_ID_MAX, args.verb),
      newAppName: name === undefined ? undefined : tokenText(name, "new_app_name", args.verb),
    };
  },
  async run(context, request): Promise<VerbResult> {
    const { app: recalled } = await context.backend.recallApp(
      request.newAppName === undefined
        ? { appId: request.appId }
        : { appId: request.appId, newAppName: request.newAppName },
    );
    context.rememberTables([recalled.appName]);
    return {
      json: { app: recalled },
      lines: [`recall app succeed: ${appSummary(recalled)}`],
    };
  },
});

const use = defineVerb<{ appName: string | undefined }>({
  name: "use",
  group: "tables",
  summary: "select the table the data and env commands work on (no argument: show it)",
  positionals: [{ name: "app_name", optional: true }],
  flags: [],
  parse(args) {
    const name = args.optionalPositional(0);
    return { appName: name === undefined ? undefined : tokenText(name, "app_name", args.verb) };
  },
  async run(context, request): Promise<VerbResult> {
    if (request.appName === undefined) {
      const { name } = context.table();
      return { json: { table: name }, lines: [name] };
    }
    // Checks that the table exists, so the first data command does not fail on a typo.
    const { app: info } = await context.backend.queryConfiguration(request.appName);
    context.useTable(info.appName);
    context.rememberTables([info.appName]);
    return {
      json: { table: info.appName, appId: info.appId, partitionCount: info.partitionCount },
      lines: [`OK, using table "${info.appName}" (app_id=${info.appId})`],
    };
  },
});

export const clusterVerbs: readonly AnyVerbSpec[] = [
  clusterInfo,
  nodes,
  ls,
  app,
  create,
  drop,
  recall,
  use,
];
