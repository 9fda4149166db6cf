/**
 * Sort-key filters as Pegasus's shell spells them: `-s|--sort_key_filter_type
 * anywhere|prefix|postfix` with `-y|--sort_key_filter_pattern str`, or the short form
 * `-s prefix:<pattern>`.
 */
import { FilterType, type KeyFilter } from "../storage/index.ts";
import type { Args, FlagSpec } from "./verb-spec.ts";

export const FILTER_TYPES: Readonly<Record<string, FilterType>> = {
  anywhere: FilterType.MATCH_ANYWHERE,
  prefix: FilterType.MATCH_PREFIX,
  postfix: FilterType.MATCH_POSTFIX,
};

export const sortKeyFilterFlags: readonly FlagSpec[] = [
  {
    name: "sort_key_filter_type",
    short: "s",
    kind: "string",
    valueName: "anywhere|prefix|postfix[:pattern]",
    help: "keep only sort keys matching the pattern",
  },
  {
    name: "sort_key_filter_pattern",
    short: "y",
    kind: "string",
    help: "the sort-key filter's pattern",
  },
];

/** The filter the -s / -y flags describe; undefined when neither is given. */
export function sortKeyFilterOf(args: Args): KeyFilter | undefined {
  const typeToken = args.token("sort_key_filter_type");
  const patternToken = args.token("sort_key_filter_pattern");
  if (typeToken === undefined) {
    if (patternToken !== undefined) throw args.error("-y needs -s anywhere|prefix|postfix");
    return undefined;
  }
  const colon = typeToken.bytes.indexOf(":");
  const typeName = (colon < 0 ? typeToken.bytes : typeToken.bytes.subarray(0, colon)).toString(
    "utf8",
  );
  const type = FILTER_TYPES[typeName];
  if (type === undefined)
    throw args.error(`-s must be anywhere, prefix or postfix, got "${typeName}"`);
  if (colon >= 0 && patternToken !== undefined)
    throw args.error("give the pattern once: -s type:pattern or -y pattern");
  const pattern = colon >= 0 ? typeToken.bytes.subarray(colon + 1) : patternToken?.bytes;
  if (pattern === undefined) throw args.error(`-s ${typeName} needs a pattern (-y pattern)`);
  return { type, pattern: Buffer.from(pattern) };
}
