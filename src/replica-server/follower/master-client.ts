/**
 * The follower's calls to the master cluster: the master meta servers (where is the master
 * partition's primary?) and that primary (DupCheckpointMethod OPEN / CHUNK). Every reply is
 * validated before use; a bad one is ERR_INVALID_DATA for that attempt, never a crash.
 *
 * Every connection to the master cluster goes through one function, `MasterConnector`, so a
 * per-remote-cluster transport (e.g. through a `[duplication-proxy]`) can be plugged in without
 * touching the copy.
 */
import { MetaSession } from "../../client/meta-session.ts";
import { isTalariaError, TalariaError } from "../../common/errors.ts";
import {
  type DupCheckpointFile,
  DupCheckpointMethod,
  type DupCheckpointOpenResponse,
  type Gpid,
  gpidKey,
  MetaMethod,
  type NodeAddress,
} from "../../protocol/index.ts";
import * as v from "../../protocol/validate.ts";
import type { Transport } from "../../rpc/index.ts";
import { decodeConfig } from "../peer-wire.ts";
import { plainFileName } from "./copy-state.ts";

/** The transport to use for the master cluster named `cluster` (its meta and replica servers). */
export type MasterConnector = (cluster: string) => Transport;

/** Where a follower partition's checkpoint comes from (the follower table's envs). */
export interface MasterRef {
  readonly cluster: string;
  /** The master meta servers, "host:port". */
  readonly metas: readonly string[];
  readonly appName: string;
}

export interface MasterPartition {
  readonly gpid: Gpid;
  readonly primary: NodeAddress;
  readonly partitionCount: number;
}

const PARTITIONS_MAX = 65_536;
const ID_CHARS_MAX = 256;

/** The bad reply as an error of the attempt. */
function badReply(what: string, cause: unknown): TalariaError {
  return new TalariaError("ERR_INVALID_DATA", `bad ${what} reply from the master cluster`, {
    retriable: true,
    cause,
  });
}

/** Runs a reply's decoder; a validator's complaint becomes a bad reply, our own verdicts pass. */
function validated<T>(what: string, decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    const verdict =
      isTalariaError(error, "ERR_INCONSISTENT_STATE") || isTalariaError(error, "ERR_INVALID_STATE");
    throw verdict ? error : badReply(what, error);
  }
}

export class MasterClient {
  readonly ref: MasterRef;
  private readonly transport: Transport;
  private readonly meta: MetaSession;
  private readonly timeoutMs: number;

  constructor(ref: MasterRef, connect: MasterConnector, timeoutMs: number) {
    this.ref = ref;
    this.transport = connect(ref.cluster);
    this.meta = new MetaSession(ref.metas, this.transport);
    this.timeoutMs = timeoutMs;
  }

  /**
   * The master partition `partitionIndex` and its primary. The master table must have
   * `partitionCount` partitions, like the follower (else ERR_INCONSISTENT_STATE); a partition
   * without a primary right now is ERR_INVALID_STATE (retry later).
   */
  async partition(partitionIndex: number, partitionCount: number): Promise<MasterPartition> {
    const reply = await this.meta.call(
      MetaMethod.QUERY_CONFIGURATION,
      { appName: this.ref.appName },
      this.timeoutMs,
    );
    return validated("query_configuration", () => {
      const r = v.object(reply, "reply");
      const app = v.object(r.app, "app");
      const appId = v.integer(app.appId, "app.appId", 0);
      const masterCount = v.integer(app.partitionCount, "app.partitionCount", 1, PARTITIONS_MAX);
      if (masterCount !== partitionCount) {
        throw new TalariaError(
          "ERR_INCONSISTENT_STATE",
          `master table ${this.ref.appName} on ${this.ref.cluster} has ${masterCount} partitions, the follower ${partitionCount}`,
          {
            retriable: true,
            details: { masterPartitionCount: masterCount, followerPartitionCount: partitionCount },
          },
        );
      }
      const partitions = v.array(r.partitions, "partitions", PARTITIONS_MAX, (item) => item);
      if (partitions.length !== masterCount) {
        throw new v.TalariaErrorForField("partitions", `${masterCount} partitions`, partitions);
      }
      const config = decodeConfig(partitions[partitionIndex], `partitions[${partitionIndex}]`);
      if (config.gpid.appId !== appId || config.gpid.partitionIndex !== partitionIndex) {
        throw new v.TalariaErrorForField(
          `partitions[${partitionIndex}].gpid`,
          `${appId}.${partitionIndex}`,
          config.gpid,
        );
      }
      if (config.primary === undefined) {
        throw new TalariaError(
          "ERR_INVALID_STATE",
          `master partition ${gpidKey(config.gpid)} has no primary right now`,
          { retriable: true, details: { gpid: gpidKey(config.gpid) } },
        );
      }
      return { gpid: config.gpid, primary: config.primary, partitionCount: masterCount };
    });
  }

  /** OPEN on the master primary: the checkpoint to copy. */
  async open(
    primary: NodeAddress,
    gpid: Gpid,
    filesMax: number,
  ): Promise<DupCheckpointOpenResponse> {
    const reply = await this.transport.call(
      primary,
      DupCheckpointMethod.OPEN,
      { gpid },
      { timeoutMs: this.timeoutMs },
    );
    return validated("dup_checkpoint_open", () => decodeOpenResponse(reply, filesMax));
  }

  /**
   * CHUNK on the master primary: `length` bytes of `file` at `offset`, which must be there (the
   * caller asks only inside the file; fewer bytes, or more, is a bad reply).
   */
  async chunk(
    primary: NodeAddress,
    request: { gpid: Gpid; id: string; file: string; offset: number; length: number },
  ): Promise<Buffer> {
    const reply = await this.transport.call(primary, DupCheckpointMethod.CHUNK, request, {
      timeoutMs: this.timeoutMs,
    });
    return validated("dup_checkpoint_chunk", () => {
      const data = v.bytes(v.object(reply, "reply").data, "data");
      if (data.length !== request.length) {
        throw new v.TalariaErrorForField("data", `${request.length} bytes`, data);
      }
      return data;
    });
  }
}

export function decodeOpenResponse(reply: unknown, filesMax: number): DupCheckpointOpenResponse {
  const r = v.object(reply, "reply");
  const id = v.string(r.id, "id", ID_CHARS_MAX);
  if (id.length === 0) throw new v.TalariaErrorForField("id", "a non-empty string", id);
  const files = v.array(r.files, "files", filesMax, (item, field): DupCheckpointFile => {
    const f = v.object(item, field);
    return {
      name: plainFileName(f.name, `${field}.name`),
      bytes: v.integer(f.bytes, `${field}.bytes`, 0),
      crc32c: v.integer(f.crc32c, `${field}.crc32c`, 0, 0xffff_ffff),
    };
  });
  const names = new Set(files.map((f) => f.name));
  if (names.size !== files.length) throw new v.TalariaErrorForField("files", "unique names", files);
  const decree = v.integer(r.decree, "decree", 0);
  if (r.httpAddress === undefined) return { id, decree, files };
  return { id, decree, files, httpAddress: v.nodeAddress(r.httpAddress, "httpAddress") };
}
