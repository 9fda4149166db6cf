/**
 * App envs of the current table (Pegasus shell names): get_app_envs, set_app_envs, del_app_envs,
 * clear_app_envs. The meta server validates keys and values against the env catalogue.
 */
import { tokenText } from "./args.ts";
import { formatTable, plural } from "./render.ts";
import { type AnyVerbSpec, defineVerb, type VerbResult } from "./verb-spec.ts";

/** Most envs one set_app_envs / del_app_envs names. */
export const ENVS_PER_COMMAND_MAX = 64;

function changed(verb: string, keys: readonly string[], what: string): VerbResult {
  return {
    json: { keys },
    lines: [
      keys.length === 0
        ? `${verb} succeed: no env ${what}`
        : `${verb} succeed: ${plural(keys.length, "env")} ${what}: ${keys.join(", ")}`,
    ],
  };
}

const getAppEnvs = defineVerb<null>({
  name: "get_app_envs",
  group: "envs",
  needsTable: true,
  summary: "the app envs of the current table",
  positionals: [],
  flags: [],
  parse: () => null,
  async run(context) {
    const { name } = context.table();
    const { app } = await context.backend.queryConfiguration(name);
    const entries = Object.entries(app.envs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return {
      json: { envs: Object.fromEntries(entries) },
      lines: [...formatTable(["key", "value"], entries), "", plural(entries.length, "env")],
    };
  },
});

const setAppEnvs = defineVerb<{ envs: Record<string, string> }>({
  name: "set_app_envs",
  group: "envs",
  needsTable: true,
  summary: "set app envs of the current table",
  positionals: [
    { name: "key" },
    { name: "value" },
    { name: "key value", optional: true, variadic: true },
  ],
  flags: [],
  parse(args) {
    const tokens = args.positionals;
    if (tokens.length % 2 !== 0)
      throw args.error(`<key> ${tokens.at(-1)?.text ?? ""} has no value`);
    if (tokens.length / 2 > ENVS_PER_COMMAND_MAX)
      throw args.error(`at most ${ENVS_PER_COMMAND_MAX} envs at once`);
    const envs: Record<string, string> = {};
    for (let i = 0; i < tokens.length; i += 2) {
      const key = tokenText(args.positional(i), "<key>", args.verb);
      envs[key] = tokenText(args.positional(i + 1), "<value>", args.verb);
    }
    return { envs };
  },
  async run(context, r) {
    const { keys } = await context.backend.setAppEnvs({
      appName: context.table().name,
      envs: r.envs,
    });
    return changed("set_app_envs", keys, "set");
  },
});

const delAppEnvs = defineVerb<{ keys: string[] }>({
  name: "del_app_envs",
  group: "envs",
  needsTable: true,
  summary: "delete app envs of the current table (keys not set are ignored)",
  positionals: [{ name: "key", variadic: true }],
  flags: [],
  parse(args) {
    if (args.positionals.length > ENVS_PER_COMMAND_MAX)
      throw args.error(`at most ${ENVS_PER_COMMAND_MAX} keys at once`);
    return { keys: args.positionals.map((t) => tokenText(t, "<key>", args.verb)) };
  },
  async run(context, r) {
    const { keys } = await context.backend.delAppEnvs({
      appName: context.table().name,
      keys: r.keys,
    });
    return changed("del_app_envs", keys, "deleted");
  },
});

const clearAppEnvs = defineVerb<{ prefix: string }>({
  name: "clear_app_envs",
  group: "envs",
  needsTable: true,
  summary: "delete every app env of the current table (-a) or those with a prefix (-p)",
  positionals: [],
  flags: [
    { name: "all", short: "a", kind: "switch", help: "delete every env" },
    {
      name: "prefix",
      short: "p",
      kind: "string",
      help: "delete the envs whose key starts with str",
    },
  ],
  parse(args) {
    const prefix = args.token("prefix");
    if (args.has("all") === (prefix !== undefined))
      throw args.error("give exactly one of -a and -p");
    // Every key starts with the empty prefix.
    return { prefix: prefix === undefined ? "" : tokenText(prefix, "-p", args.verb) };
  },
  async run(context, r) {
    const { keys } = await context.backend.delAppEnvs({
      appName: context.table().name,
      prefix: r.prefix,
    });
    return changed("clear_app_envs", keys, "deleted");
  },
});

export const envVerbs: readonly AnyVerbSpec[] = [getAppEnvs, setAppEnvs, delAppEnvs, clearAppEnvs];
