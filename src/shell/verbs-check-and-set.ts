/**
 * check_and_set (Pegasus shell's spelling of flags and check types): set a record if a check on
 * a sort key of the same hash key passes, atomically on the partition's primary.
 */
import { CheckType } from "../replica/index.ts";
import { TTL_SECONDS_MAX } from "./data-bounds.ts";
import { bytesToDisplay, bytesToJson } from "./render.ts";
import { defineVerb } from "./verb-spec.ts";

/** Pegasus shell's check type names. */
export const CHECK_TYPES: Readonly<Record<string, CheckType>> = {
  no_check: CheckType.NO_CHECK,
  not_exist: CheckType.VALUE_NOT_EXIST,
  not_exist_or_empty: CheckType.VALUE_NOT_EXIST_OR_EMPTY,
  exist: CheckType.VALUE_EXIST,
  not_empty: CheckType.VALUE_NOT_EMPTY,
  match_anywhere: CheckType.VALUE_MATCH_ANYWHERE,
  match_prefix: CheckType.VALUE_MATCH_PREFIX,
  match_postfix: CheckType.VALUE_MATCH_POSTFIX,
  bytes_less: CheckType.VALUE_BYTES_LESS,
  bytes_less_or_equal: CheckType.VALUE_BYTES_LESS_OR_EQUAL,
  bytes_equal: CheckType.VALUE_BYTES_EQUAL,
  bytes_greater_or_equal: CheckType.VALUE_BYTES_GREATER_OR_EQUAL,
  bytes_greater: CheckType.VALUE_BYTES_GREATER,
  int_less: CheckType.VALUE_INT_LESS,
  int_less_or_equal: CheckType.VALUE_INT_LESS_OR_EQUAL,
  int_equal: CheckType.VALUE_INT_EQUAL,
  int_greater_or_equal: CheckType.VALUE_INT_GREATER_OR_EQUAL,
  int_greater: CheckType.VALUE_INT_GREATER,
};

/** Check types that compare against an operand (the others ignore it). */
const OPERAND_CHECKS = /^(match_|bytes_|int_)/;

export interface CheckAndSetRequest {
  readonly hashKey: Buffer;
  readonly checkSortKey: Buffer;
  readonly checkType: CheckType;
  readonly checkOperand: Buffer;
  readonly setSortKey: Buffer | undefined;
  readonly setValue: Buffer;
  readonly ttlSeconds: number | undefined;
  readonly returnCheckValue: boolean;
}

export const checkAndSet = defineVerb<CheckAndSetRequest>({
  name: "check_and_set",
  group: "data",
  needsTable: true,
  summary: "set a record if a check on a (possibly other) sort key of the hash key passes",
  details: [
    "check types: no_check, not_exist, not_exist_or_empty, exist, not_empty, match_anywhere,",
    "match_prefix, match_postfix, bytes_less, bytes_less_or_equal, bytes_equal,",
    "bytes_greater_or_equal, bytes_greater, int_less, int_less_or_equal, int_equal,",
    "int_greater_or_equal, int_greater. match_*, bytes_* and int_* need -o.",
    "-s defaults to the check sort key. A check that does not pass is not an error: the",
    "command prints that nothing was set (exit code 0).",
  ],
  positionals: [{ name: "hash_key" }],
  flags: [
    {
      name: "check_sort_key",
      short: "c",
      kind: "string",
      required: true,
      help: "the sort key checked",
    },
    {
      name: "check_type",
      short: "t",
      kind: "enum",
      values: Object.keys(CHECK_TYPES),
      valueName: "type",
      required: true,
      help: "how the checked value is tested",
    },
    { name: "check_operand", short: "o", kind: "string", help: "the operand of the check" },
    { name: "set_sort_key", short: "s", kind: "string", help: "the sort key set (default: -c)" },
    { name: "set_value", short: "v", kind: "string", required: true, help: "the value set" },
    {
      name: "set_value_ttl_seconds",
      short: "l",
      kind: "int",
      min: 0,
      max: TTL_SECONDS_MAX,
      help: "time to live of the value set",
    },
    { name: "return_check_value", short: "r", kind: "switch", help: "print the checked value" },
  ],
  parse(args) {
    const typeName = args.choice("check_type") ?? "";
    const checkType = CHECK_TYPES[typeName];
    if (checkType === undefined) throw args.error(`unknown check type ${typeName}`);
    const operand = args.token("check_operand");
    if (OPERAND_CHECKS.test(typeName) && operand === undefined)
      throw args.error(`-t ${typeName} needs -o|--check_operand`);
    if (!OPERAND_CHECKS.test(typeName) && operand !== undefined)
      throw args.error(`-t ${typeName} takes no -o|--check_operand`);
    const checkSortKey = args.token("check_sort_key")?.bytes ?? Buffer.alloc(0);
    const setValue = args.token("set_value")?.bytes ?? Buffer.alloc(0);
    return {
      hashKey: args.positional(0).bytes,
      checkSortKey,
      checkType,
      checkOperand: operand?.bytes ?? Buffer.alloc(0),
      setSortKey: args.token("set_sort_key")?.bytes,
      setValue,
      ttlSeconds: args.int("set_value_ttl_seconds"),
      returnCheckValue: args.has("return_check_value"),
    };
  },
  async run(context, r) {
    const result = await context
      .table()
      .table.checkAndSet(
        r.hashKey,
        r.checkSortKey,
        r.checkType,
        r.checkOperand,
        r.setSortKey === undefined
          ? { value: r.setValue }
          : { sortKey: r.setSortKey, value: r.setValue },
        {
          returnCheckValue: r.returnCheckValue,
          ...(r.ttlSeconds === undefined ? {} : { ttlSeconds: r.ttlSeconds }),
        },
      );
    const setKey = bytesToDisplay(r.setSortKey ?? r.checkSortKey);
    const lines = [
      result.succeeded
        ? `set succeed: the check passed and ${setKey} was written`
        : "set failed: the check did not pass; nothing was written",
    ];
    const check = result.checkValue;
    if (check !== undefined) {
      lines.push(
        check.exists && check.value !== undefined
          ? `check value: ${bytesToDisplay(check.value)}`
          : "check value: not exist",
      );
    }
    return {
      json: {
        succeeded: result.succeeded,
        ...(check === undefined
          ? {}
          : {
              checkValue: {
                exists: check.exists,
                ...(check.value === undefined || !check.exists
                  ? {}
                  : { value: bytesToJson(check.value) }),
              },
            }),
      },
      lines,
    };
  },
});
