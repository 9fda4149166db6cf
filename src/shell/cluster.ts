/**
 * Which cluster the shell talks to: `--meta` lists the meta servers; `-c <cluster>` looks them up
 * in a configuration's `[pegasus.clusters]` (or its own `[meta_server] server_list` when the name
 * is the configuration's own `cluster_name`); otherwise the local onebox default.
 */
import { join } from "node:path";
import { type Config, formatHostPort, parseHostPort } from "../config/index.ts";
import { suggest } from "./suggest.ts";

export const DEFAULT_META_SERVER = "127.0.0.1:34601";
/** The configuration read from the working directory when neither --config nor TALARIA_CONFIG is set. */
export const DEFAULT_CONFIG_FILE = "talaria.ini";
/** Most meta servers --meta may list. */
export const META_SERVERS_MAX = 16;

export interface ShellTarget {
  /** What the prompt shows: the cluster name, or the first meta server. */
  readonly label: string;
  readonly metaServers: readonly string[];
}

/** Thrown for a target that cannot be resolved from what the user gave: a usage error. */
export class TargetError extends Error {
  override readonly name = "TargetError";
}

/** `host:port,host:port`; throws TargetError naming the bad entry. */
export function parseMetaList(text: string): string[] {
  const entries = text.split(",").map((entry) => entry.trim());
  if (entries.length > META_SERVERS_MAX)
    throw new TargetError(`--meta lists at most ${META_SERVERS_MAX} meta servers`);
  return entries.map((entry) => {
    const parsed = parseHostPort(entry);
    if (!parsed.ok) throw new TargetError(`--meta: ${parsed.error}`);
    return formatHostPort(parsed.value);
  });
}

/**
 * The configuration file to read for `-c`: --config, else TALARIA_CONFIG, else ./talaria.ini
 * when it exists; undefined when there is none.
 */
export function configPathFor(input: {
  readonly config: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly exists: (path: string) => boolean;
}): string | undefined {
  if (input.config !== undefined) return input.config;
  const fromEnv = input.env.TALARIA_CONFIG;
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  const local = join(input.cwd, DEFAULT_CONFIG_FILE);
  return input.exists(local) ? local : undefined;
}

/** The meta servers of `cluster` in `config`; throws TargetError for an unknown name. */
export function clusterFromConfig(cluster: string, config: Config, source: string): ShellTarget {
  const own = config.replication.clusterName;
  const list = cluster === own ? config.metaServer.serverList : config.pegasusClusters[cluster];
  if (list === undefined) {
    const known = [own, ...Object.keys(config.pegasusClusters)];
    const hint = suggest(cluster, known);
    throw new TargetError(
      `unknown cluster "${cluster}" in ${source} (known: ${known.join(", ")})` +
        (hint === undefined ? "" : `; did you mean "${hint}"?`),
    );
  }
  return { label: cluster, metaServers: list.map(formatHostPort) };
}

/** The target when no configuration is involved: --meta, or the default. */
export function directTarget(
  cluster: string | undefined,
  meta: readonly string[] | undefined,
): ShellTarget {
  const metaServers = meta ?? [DEFAULT_META_SERVER];
  return { label: cluster ?? metaServers[0] ?? DEFAULT_META_SERVER, metaServers };
}
