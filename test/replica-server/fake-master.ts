/**
 * A fake master cluster for follower-copy tests: one real RpcServer on 127.0.0.1 that answers as
 * the master meta server (query_configuration by app name) and as the master partitions' primary
 * (DupCheckpointMethod OPEN / CHUNK, per the contract in src/protocol/dup-checkpoint-messages.ts),
 * serving the files of a real StorageEngine checkpoint from a temp directory. `startHttp` adds the
 * bulk path (GET DUP_CHECKPOINT_HTTP_PATH with `Range: bytes=<start>-`) on its own HTTP server,
 * named in OPEN replies. Knobs inject the faults the tests need; nothing here depends on the real
 * master implementation.
 */

import { mkdtemp, open, readdir, rm, stat } from "node:fs/promises";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32c } from "@node-rs/crc32";
import type { Mutation } from "../../src/codec/mutation.ts";
import { UpdateKind } from "../../src/codec/mutation.ts";
import { ManualClock } from "../../src/common/clock.ts";
import { TalariaError } from "../../src/common/errors.ts";
import {
  AppStatus,
  DUP_CHECKPOINT_HTTP_PATH,
  type DupCheckpointFile,
  DupCheckpointMethod,
  MetaMethod,
} from "../../src/protocol/index.ts";
import * as v from "../../src/protocol/validate.ts";
import { RpcServer } from "../../src/rpc/index.ts";
import { StorageEngine } from "../../src/storage/index.ts";

/** 2026-01-01T00:00:00Z in µs. */
export const MASTER_T0_US = 1_767_225_600_000_000;
export const MASTER_BALLOT = 7;

export interface MasterCheckpoint {
  readonly dir: string;
  readonly decree: number;
  readonly files: DupCheckpointFile[];
}

export function recordKey(i: number): { hashKey: string; sortKey: string } {
  return { hashKey: `h${i % 17}`, sortKey: `s${i}` };
}

export function recordValue(i: number, valueBytes: number): Buffer {
  const value = Buffer.alloc(valueBytes, i % 251);
  value.write(`v${i}`);
  return value;
}

/**
 * A checkpoint of a real storage engine holding `records` records of `valueBytes` each, written
 * by `decrees` mutations at ballot MASTER_BALLOT.
 */
export async function makeMasterCheckpoint(
  root: string,
  records: number,
  valueBytes: number,
): Promise<MasterCheckpoint> {
  const engine = await StorageEngine.open({
    path: join(root, "master-env"),
    clock: new ManualClock(MASTER_T0_US),
  });
  const perMutation = 10;
  let decree = 0;
  for (let first = 0; first < records; first += perMutation) {
    decree++;
    const updates = [];
    for (let i = first; i < Math.min(records, first + perMutation); i++) {
      const { hashKey, sortKey } = recordKey(i);
      updates.push({
        kind: UpdateKind.PUT,
        hashKey: Buffer.from(hashKey),
        sortKey: Buffer.from(sortKey),
        value: recordValue(i, valueBytes),
        expireTs: 0,
      } as const);
    }
    const mutation: Mutation = {
      ballot: MASTER_BALLOT,
      decree,
      timestampUs: MASTER_T0_US + decree,
      updates,
    };
    await engine.apply(mutation, { clusterId: 1, keepTombstones: true });
  }
  const dir = join(root, "master-checkpoint");
  const info = await engine.checkpoint(dir);
  await engine.close();
  return { dir, decree: info.decree, files: await listFiles(dir) };
}

export async function listFiles(dir: string): Promise<DupCheckpointFile[]> {
  const files: DupCheckpointFile[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    const info = await stat(path);
    if (!info.isFile()) continue;
    const handle = await open(path, "r");
    try {
      const data = await handle.readFile();
      files.push({ name, bytes: info.size, crc32c: crc32c(data) });
    } finally {
      await handle.close();
    }
  }
  return files;
}

export interface ChunkCall {
  readonly id: string;
  readonly file: string;
  readonly offset: number;
  readonly length: number;
}

export interface HttpCall {
  readonly id: string;
  readonly file: string;
  readonly start: number;
}

/** Body pieces of the fake's HTTP responses: small, so a test can stop a stream midway. */
const HTTP_PIECE_BYTES = 32 * 1024;

export class FakeMaster {
  readonly server: RpcServer;
  readonly appName: string;
  appId = 5;
  partitionCount: number;
  /** The checkpoint served, and the id it is served under (undefined: none → ERR_BUSY on OPEN). */
  checkpoint: MasterCheckpoint;
  id = "dup-1";
  /** Primary named in the configuration; the server itself by default. */
  primary: string | undefined;
  readonly chunkCalls: ChunkCall[] = [];
  openCalls = 0;
  /** Flip one byte in the next this-many CHUNK replies. */
  corruptChunks = 0;
  /** While set, CHUNK replies wait for it. */
  gate: Promise<void> | undefined;
  /** Called before each CHUNK is answered (count = CHUNKs answered so far). */
  onChunk: ((call: ChunkCall, count: number) => void) | undefined;
  /** Replaces the OPEN reply. */
  openReply: (() => unknown) | undefined;
  /** Replaces the query_configuration reply. */
  queryReply: (() => unknown) | undefined;
  /** Replaces the CHUNK reply. */
  chunkReply: ((call: ChunkCall) => unknown) | undefined;
  /** The HTTP server (startHttp), and the address OPEN names (may be set to a dead one). */
  http: Server | undefined;
  httpAddress: string | undefined;
  readonly httpCalls: HttpCall[] = [];
  /** Flip the first byte of the next this-many HTTP bodies. */
  corruptHttp = 0;
  /** Answer every HTTP request with this status and no file (e.g. 404: an old master). */
  httpStatus: number | undefined;
  /** Called before each HTTP request is answered (count = requests so far). */
  onHttp: ((call: HttpCall, count: number) => void) | undefined;
  /** Called after each body piece is sent (bytes of this response so far). */
  onHttpBytes: ((call: HttpCall, sent: number) => void) | undefined;

  private constructor(
    server: RpcServer,
    appName: string,
    partitionCount: number,
    cp: MasterCheckpoint,
  ) {
    this.server = server;
    this.appName = appName;
    this.partitionCount = partitionCount;
    this.checkpoint = cp;
  }

  /** `port` 0 picks a free one; a restart passes the old one. */
  static async start(
    appName: string,
    partitionCount: number,
    checkpoint: MasterCheckpoint,
    port = 0,
  ): Promise<FakeMaster> {
    const server = new RpcServer({ name: "fake master" });
    const master = new FakeMaster(server, appName, partitionCount, checkpoint);
    server.handle(MetaMethod.QUERY_CONFIGURATION, async (payload) => master.query(payload));
    server.handle(DupCheckpointMethod.OPEN, async (payload) => master.open(payload));
    server.handle(DupCheckpointMethod.CHUNK, async (payload) => master.chunk(payload));
    await server.listen({ host: "127.0.0.1", port });
    return master;
  }

  get address(): string {
    return this.server.address;
  }

  /** Serves the HTTP bulk path on 127.0.0.1 and names it in OPEN replies. */
  async startHttp(): Promise<string> {
    const http = createServer((req, res) => {
      void this.serveHttp(req.url ?? "/", req.headers.range, res).catch((error: unknown) =>
        res.destroy(error instanceof Error ? error : new Error(String(error))),
      );
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", () => resolve()));
    this.http = http;
    this.httpAddress = `127.0.0.1:${(http.address() as AddressInfo).port}`;
    return this.httpAddress;
  }

  /** Stops serving HTTP; OPEN keeps naming the address (a master whose HTTP went down). */
  async stopHttp(): Promise<void> {
    const http = this.http;
    this.http = undefined;
    if (http === undefined) return;
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  }

  async close(): Promise<void> {
    await this.stopHttp();
    await this.server.close();
  }

  private async serveHttp(url: string, range: string | undefined, res: ServerResponse) {
    const parsed = new URL(url, "http://localhost");
    const query = parsed.searchParams;
    const call: HttpCall = {
      id: query.get("id") ?? "",
      file: query.get("file") ?? "",
      start: Number(/^bytes=(\d+)-$/.exec(range ?? "")?.[1] ?? Number.NaN),
    };
    this.httpCalls.push(call);
    this.onHttp?.(call, this.httpCalls.length);
    const file = this.checkpoint.files.find((f) => f.name === call.file);
    const status =
      this.httpStatus ??
      (parsed.pathname !== DUP_CHECKPOINT_HTTP_PATH ||
      Number(query.get("app_id")) !== this.appId ||
      call.id !== this.id ||
      file === undefined
        ? 404
        : !(call.start >= 0 && call.start < file.bytes)
          ? 416
          : 206);
    if (status !== 206 || file === undefined) {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ code: "ERR_OBJECT_NOT_FOUND" }));
      return;
    }
    const handle = await open(join(this.checkpoint.dir, call.file), "r");
    try {
      res.writeHead(206, {
        "content-length": String(file.bytes - call.start),
        "content-range": `bytes ${call.start}-${file.bytes - 1}/${file.bytes}`,
      });
      let sent = 0;
      let corrupt = this.corruptHttp > 0;
      if (corrupt) this.corruptHttp--;
      for (let offset = call.start; offset < file.bytes; offset += HTTP_PIECE_BYTES) {
        if (res.destroyed) return;
        const piece = Buffer.alloc(Math.min(HTTP_PIECE_BYTES, file.bytes - offset));
        await handle.read(piece, 0, piece.length, offset);
        if (corrupt) {
          piece[0] = (piece[0] ?? 0) ^ 0xff;
          corrupt = false;
        }
        if (!res.write(piece) && !res.destroyed) {
          // Whichever comes first; the other listener is removed so waits do not pile up.
          await new Promise<void>((resolve) => {
            const done = () => {
              res.off("drain", done);
              res.off("close", done);
              resolve();
            };
            res.once("drain", done);
            res.once("close", done);
          });
        }
        sent += piece.length;
        this.onHttpBytes?.(call, sent);
      }
      res.end();
    } finally {
      await handle.close();
    }
  }

  private query(payload: unknown): unknown {
    if (this.queryReply !== undefined) return this.queryReply();
    const appName = v.string(v.object(payload, "payload").appName, "appName");
    if (appName !== this.appName) throw new TalariaError("ERR_APP_NOT_EXIST", `no ${appName}`);
    const primary = this.primary ?? this.address;
    return {
      app: {
        appId: this.appId,
        appName,
        partitionCount: this.partitionCount,
        replicaCount: 3,
        status: AppStatus.AVAILABLE,
        envs: {},
        createdAtMs: 0,
      },
      partitions: Array.from({ length: this.partitionCount }, (_, partitionIndex) => ({
        gpid: { appId: this.appId, partitionIndex },
        ballot: MASTER_BALLOT,
        primary,
        secondaries: [],
        maxReplicaCount: 3,
        lastCommittedDecree: this.checkpoint.decree,
      })),
    };
  }

  private open(payload: unknown): unknown {
    this.openCalls++;
    v.gpid(v.object(payload, "payload").gpid, "gpid");
    if (this.openReply !== undefined) return this.openReply();
    return {
      id: this.id,
      decree: this.checkpoint.decree,
      files: this.checkpoint.files,
      ...(this.httpAddress === undefined ? {} : { httpAddress: this.httpAddress }),
    };
  }

  private async chunk(payload: unknown): Promise<unknown> {
    const p = v.object(payload, "payload");
    const call: ChunkCall = {
      id: v.string(p.id, "id"),
      file: v.string(p.file, "file"),
      offset: v.integer(p.offset, "offset", 0),
      length: v.integer(p.length, "length", 1),
    };
    if (call.id !== this.id)
      throw new TalariaError("ERR_OBJECT_NOT_FOUND", `no checkpoint ${call.id}`);
    this.chunkCalls.push(call);
    this.onChunk?.(call, this.chunkCalls.length);
    await this.gate;
    if (this.chunkReply !== undefined) return this.chunkReply(call);
    const handle = await open(join(this.checkpoint.dir, call.file), "r");
    try {
      const data = Buffer.alloc(call.length);
      const { bytesRead } = await handle.read(data, 0, call.length, call.offset);
      const out = data.subarray(0, bytesRead);
      if (this.corruptChunks > 0 && out.length > 0) {
        this.corruptChunks--;
        out[0] = (out[0] ?? 0) ^ 0xff;
      }
      return { data: out };
    } finally {
      await handle.close();
    }
  }
}

export async function tempRoot(prefix: string): Promise<{ root: string; remove(): Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  return { root, remove: () => rm(root, { recursive: true, force: true }) };
}
