/**
 * Table envs enforced by replica servers on client requests (ref §8.5), DUPLICATE writes
 * included so an operator can pace a duplication backlog:
 *  - `replica.deny_client_request = timeout|reconfig * all|read|write`: `timeout` drops the
 *    request with no reply (the client times out; no retry storm), `reconfig` answers
 *    ERR_INVALID_STATE so the client re-resolves the partition.
 *  - `replica.write_throttling` (requests/s) and `replica.write_throttling_by_size` (bytes/s):
 *    table-wide thresholds split per partition (units / partitionCount + 1), counted in one-second
 *    windows. Over the reject threshold: ERR_BUSY after `ms` (the request is not counted); over the
 *    delay threshold: the request waits `ms`. Both waits are capped at half the caller's remaining
 *    time, as Pegasus does.
 *  - `default_ttl`: writes that carry no expiry get `now + default_ttl` (decided by the primary
 *    before logging, so every replica and every remote cluster stores the same expiry).
 */
import { epochNowSeconds } from "../codec/value-schema.ts";
import { TalariaError } from "../common/errors.ts";
import {
  type DenyClientRequest,
  parseDefaultTtl,
  parseDenyClientRequest,
  parseThrottling,
  perPartitionUnits,
  type Throttling,
} from "../config/app-envs.ts";
import { validateWrite, type WriteRequest } from "../replica/index.ts";
import { DropRequest } from "../rpc/index.ts";

interface Limiter {
  readonly delay?: { readonly units: number; readonly ms: number };
  readonly reject?: { readonly units: number; readonly ms: number };
  windowSecond: number;
  used: number;
}

function limiter(throttling: Throttling | undefined, partitionCount: number): Limiter | undefined {
  if (throttling === undefined) return undefined;
  const scale = (rule: { units: number; ms: number } | undefined) =>
    rule === undefined
      ? undefined
      : { units: perPartitionUnits(rule.units, partitionCount), ms: rule.ms };
  const delay = scale(throttling.delay);
  const reject = scale(throttling.reject);
  return {
    ...(delay === undefined ? {} : { delay }),
    ...(reject === undefined ? {} : { reject }),
    windowSecond: 0,
    used: 0,
  };
}

const UNLIMITED = {
  writeBytesMax: Number.MAX_SAFE_INTEGER,
  multiOpCountMax: Number.MAX_SAFE_INTEGER,
};

export type Admission = { readonly waitMs: number; readonly reject?: TalariaError };

export class AppEnvPolicy {
  /** The envs this policy was built from, to rebuild it only when they change. */
  readonly source: string;
  private readonly deny: DenyClientRequest | undefined;
  private readonly writes: Limiter | undefined;
  private readonly writeBytes: Limiter | undefined;
  private readonly defaultTtlSeconds: number;

  constructor(envs: Readonly<Record<string, string>>, partitionCount: number) {
    this.source = JSON.stringify(envs);
    // Envs were validated by the meta server; a value this build cannot parse is ignored rather
    // than taking the partition down.
    const parse = <T>(key: string, parser: (value: string, key: string) => T): T | undefined => {
      const value = envs[key];
      if (value === undefined || value === "") return undefined;
      try {
        return parser(value, key);
      } catch {
        return undefined;
      }
    };
    this.deny = parse("replica.deny_client_request", parseDenyClientRequest);
    this.writes = limiter(parse("replica.write_throttling", parseThrottling), partitionCount);
    this.writeBytes = limiter(
      parse("replica.write_throttling_by_size", parseThrottling),
      partitionCount,
    );
    this.defaultTtlSeconds = parse("default_ttl", parseDefaultTtl) ?? 0;
  }

  /** Throws DropRequest or ERR_INVALID_STATE when the table denies `kind` requests. */
  checkDeny(kind: "read" | "write"): void {
    const deny = this.deny;
    if (deny === undefined || (deny.ops !== "all" && deny.ops !== kind)) return;
    if (deny.mode === "timeout") throw new DropRequest(`table denies ${kind} requests (timeout)`);
    throw new TalariaError("ERR_INVALID_STATE", `table denies ${kind} requests (reconfig)`, {
      retriable: true,
      details: { reason: "deny_client_request", beforeExecution: true },
    });
  }

  /** How long a write must wait, and whether it is refused after waiting. */
  admitWrite(request: WriteRequest, nowMs: number): Admission {
    const second = Math.floor(nowMs / 1000);
    let waitMs = 0;
    const bytes = this.writeBytes === undefined ? 0 : validateWrite(request, UNLIMITED);
    for (const [rule, units] of [
      [this.writes, 1],
      [this.writeBytes, bytes],
    ] as const) {
      if (rule === undefined) continue;
      if (rule.windowSecond !== second) {
        rule.windowSecond = second;
        rule.used = 0;
      }
      if (rule.reject !== undefined && rule.used + units > rule.reject.units) {
        return {
          waitMs: rule.reject.ms,
          reject: new TalariaError(
            "ERR_BUSY",
            "write throttled by the table's replica.write_throttling settings",
            {
              details: { beforeExecution: true },
            },
          ),
        };
      }
    }
    for (const [rule, units] of [
      [this.writes, 1],
      [this.writeBytes, bytes],
    ] as const) {
      if (rule === undefined) continue;
      rule.used += units;
      if (rule.delay !== undefined && rule.used > rule.delay.units)
        waitMs = Math.max(waitMs, rule.delay.ms);
    }
    return { waitMs };
  }

  /** Gives writes without an expiry the table's default TTL. */
  withDefaultTtl(request: WriteRequest, nowMs: number): WriteRequest {
    if (this.defaultTtlSeconds === 0) return request;
    const expireTs = epochNowSeconds(nowMs) + this.defaultTtlSeconds;
    switch (request.op) {
      case "set":
      case "multiSet":
        return request.expireTs === 0 ? { ...request, expireTs } : request;
      case "checkAndSet":
        return request.setExpireTs === 0 ? { ...request, setExpireTs: expireTs } : request;
      case "checkAndMutate":
        return {
          ...request,
          mutates: request.mutates.map((m) =>
            m.operation === "put" && m.expireTs === 0 ? { ...m, expireTs } : m,
          ),
        };
      default:
        return request;
    }
  }
}
