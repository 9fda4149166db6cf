/**
 * The client's view of the meta servers: calls go to the last known leader; ERR_NOT_LEADER with a
 * leader hint moves there, and a meta server that cannot be reached moves on to the next one.
 */
import { isTalariaError, TalariaError } from "../common/errors.ts";
import type { Transport } from "../rpc/index.ts";

export class MetaSession {
  private readonly metaServers: readonly string[];
  private readonly transport: Transport;
  private current = 0;
  private leaderHint: string | undefined;

  constructor(metaServers: readonly string[], transport: Transport) {
    if (metaServers.length === 0) {
      throw new TalariaError(
        "ERR_INVALID_PARAMETERS",
        "metaServers must name at least one meta server",
      );
    }
    this.metaServers = metaServers;
    this.transport = transport;
  }

  /** Calls `method` on the leader, trying each meta server (and any leader hint) once. */
  async call(method: string, payload: unknown, timeoutMs: number): Promise<unknown> {
    let lastError: unknown;
    const attempts = this.metaServers.length + 1;
    for (let attempt = 0; attempt < attempts; attempt++) {
      const address =
        this.leaderHint ?? this.metaServers[this.current % this.metaServers.length] ?? "";
      try {
        return await this.transport.call(address, method, payload, { timeoutMs });
      } catch (error) {
        lastError = error;
        if (
          isTalariaError(error, "ERR_NOT_LEADER") &&
          typeof error.details.leader === "string" &&
          error.details.leader !== address
        ) {
          this.leaderHint = error.details.leader;
          continue;
        }
        if (
          isTalariaError(error) &&
          (error.code === "ERR_NETWORK_FAILURE" ||
            error.code === "ERR_TIMEOUT" ||
            error.code === "ERR_NOT_LEADER")
        ) {
          this.leaderHint = undefined;
          this.current++;
          continue;
        }
        throw error;
      }
    }
    throw lastError;
  }
}
