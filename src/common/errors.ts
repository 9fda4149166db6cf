/**
 * The error catalogue. Every error Talaria raises carries one of these stable codes; callers match
 * on `code`, never on message text. Names follow Apache Pegasus where Pegasus has one.
 * `docs/errors.md` lists the same codes; test/common/errors.test.ts keeps the two in sync.
 */
export const errorCatalogue = {
  ERR_INVALID_PARAMETERS: {
    retriable: false,
    description:
      "A request or option is malformed or out of range (wrong type, unknown enum value).",
  },
  ERR_INVALID_ARGUMENT: {
    retriable: false,
    description:
      "An operation cannot be applied to the stored data: incr on a value that is not a 64-bit integer, incr overflow, a check operand that is not an integer for an INT_* check.",
  },
  ERR_INVALID_HASH_KEY: {
    retriable: false,
    description: "The hash key is longer than 65,535 bytes and cannot be encoded.",
  },
  ERR_LIMIT_EXCEEDED: {
    retriable: false,
    description:
      "A named limit was exceeded (write size, key size, multi-op count, batch size). `details.limit` names it.",
  },
  ERR_TRY_AGAIN: {
    retriable: false,
    description:
      "A checkAndSet / checkAndMutate check did not pass; nothing was written. `details.checkValue` holds the checked value when it was asked for.",
  },
  ERR_INVALID_DATA: {
    retriable: false,
    description: "Encoded bytes (a mutation, a value, a frame) could not be decoded.",
  },
  ERR_INVALID_VERSION: {
    retriable: false,
    description: "Encoded bytes carry a format version this build does not know.",
  },
  ERR_INCOMPLETE_DATA: {
    retriable: false,
    description:
      "The private log ends in a torn or corrupt record (e.g. after a crash); reported with file and offset, and the tail is truncated there on open.",
  },
  ERR_CORRUPTION: {
    retriable: false,
    description:
      "A record in the middle of the private log (followed by valid records) fails its checksum or framing; the replica refuses to open rather than skip it.",
  },
  ERR_INVALID_STATE: {
    retriable: false,
    description:
      "The operation is not valid in the object's current state (closed, decree not increasing, gap in decrees).",
  },
  ERR_FILE_OPERATION_FAILED: {
    retriable: true,
    description: "A file-system operation failed (open, write, fsync, rename).",
  },
  ERR_BUSY: {
    retriable: true,
    description:
      "A bounded queue is full (too many writes waiting for the private log, too many requests in flight); retry after a short backoff.",
  },
  ERR_TIMEOUT: {
    retriable: true,
    description:
      "The request's deadline passed before an answer arrived (or before the server got to it).",
  },
  ERR_NETWORK_FAILURE: {
    retriable: true,
    description:
      "The connection to the peer could not be made or was lost before the answer arrived.",
  },
  ERR_HANDLER_NOT_FOUND: {
    retriable: false,
    description: "The peer does not serve the requested RPC method (or protocol version).",
  },
  ERR_OBJECT_EXIST: {
    retriable: false,
    description: "The object to create already exists (meta-store node, table name).",
  },
  ERR_INVALID_CONFIG: {
    retriable: false,
    description:
      "The configuration file has an unknown section or key, or a value that does not validate; the message names the section and key.",
  },
  ERR_NOT_LEADER: {
    retriable: true,
    description:
      "This meta server is not the leader; `details.leader` names the current leader when known. Clients retry there.",
  },
  ERR_OBJECT_NOT_FOUND: {
    retriable: false,
    description: "A named object (checkpoint, segment, scanner) does not exist.",
  },
  ERR_APP_NOT_EXIST: {
    retriable: false,
    description:
      "No available table has this name or id (it was never created, was dropped, or its recall period is over).",
  },
  ERR_APP_EXIST: {
    retriable: false,
    description:
      "A table with this name already exists, or a dropped one that can still be recalled holds the name (or the table to recall is already available).",
  },
  ERR_DUP_EXIST: {
    retriable: false,
    description:
      "The table already duplicates to this remote cluster; `details` names the existing duplication (`appId`, `dupid`, `status`).",
  },
  ERR_OPERATION_DISABLED: {
    retriable: false,
    description:
      "The operation is switched off: duplication with `[replication] duplication_enabled = false`, or a feature not available in this release (`details.reason`).",
  },
  ERR_INCONSISTENT_STATE: {
    retriable: false,
    description:
      "Two sides disagree on a fact that must match: a duplication routed entries by a partition count the remote table no longer has (`details.partitionCount`, `details.expectedPartitionCount`).",
  },
  ERR_DUP_CLUSTER_ID_REFUSED: {
    retriable: false,
    description:
      "A DUPLICATE request carries a cluster id the receiver refuses: its own (self-duplication) or one not in its `[duplication-group]`; `details = { clusterId, reason }`, reason `self` or `unconfigured`.",
  },
} as const satisfies Record<string, { retriable: boolean; description: string }>;

export type ErrorCode = keyof typeof errorCatalogue;

export type ErrorDetails = Readonly<Record<string, unknown>>;

/** The one error type Talaria throws for operating errors. Programmer errors use `assert`. */
export class TalariaError extends Error {
  override readonly name = "TalariaError";
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly details: ErrorDetails;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: ErrorDetails; cause?: unknown; retriable?: boolean } = {},
  ) {
    super(
      `${code}: ${message}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    this.retriable = options.retriable ?? errorCatalogue[code].retriable;
    this.details = options.details ?? {};
  }
}

export function isTalariaError(error: unknown, code?: ErrorCode): error is TalariaError {
  return error instanceof TalariaError && (code === undefined || error.code === code);
}

/** Throws ERR_LIMIT_EXCEEDED naming the limit when `value > max`. */
export function checkLimit(limit: string, value: number, max: number, what: string): void {
  if (value > max) {
    throw new TalariaError("ERR_LIMIT_EXCEEDED", `${what} is ${value}, over ${limit} = ${max}`, {
      details: { limit, value, max },
    });
  }
}
