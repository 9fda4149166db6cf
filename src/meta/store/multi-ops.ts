/** Validation of a `multi` batch, shared by both stores so both refuse the same batches. */
import { checkLimit, TalariaError } from "../../common/errors.ts";
import { checkNodePath, checkValue } from "./meta-path.ts";
import { type MetaOp, metaStoreLimits } from "./meta-store.ts";

export function checkMultiOps(ops: unknown): asserts ops is readonly MetaOp[] {
  if (!Array.isArray(ops)) {
    throw new TalariaError("ERR_INVALID_PARAMETERS", "multi ops is not an array");
  }
  checkLimit("metaMultiOpsMax", ops.length, metaStoreLimits.metaMultiOpsMax, "multi op count");
  let bytes = 0;
  ops.forEach((op: unknown, opIndex) => {
    const candidate = op as Partial<Record<"op" | "path" | "data", unknown>> | null;
    const kind = candidate?.op;
    if (kind !== "create" && kind !== "set" && kind !== "delete") {
      throw new TalariaError(
        "ERR_INVALID_PARAMETERS",
        `multi op ${opIndex}: unknown op ${String(kind)}`,
        {
          details: { opIndex },
        },
      );
    }
    checkNodePath(candidate?.path);
    if (kind !== "delete") {
      checkValue(candidate.path, candidate.data);
      bytes += candidate.data.length;
    }
  });
  checkLimit("metaMultiBytesMax", bytes, metaStoreLimits.metaMultiBytesMax, "multi value bytes");
}

/** Adds the failing op's index to an error raised while applying a multi. */
export function withOpIndex(error: unknown, opIndex: number): unknown {
  if (!(error instanceof TalariaError)) return error;
  return new TalariaError(error.code, `multi op ${opIndex}: ${error.message}`, {
    details: { ...error.details, opIndex },
    cause: error.cause,
    retriable: error.retriable,
  });
}
