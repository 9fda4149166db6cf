/**
 * FullSyncSource, the replica server's side of DS_PREPARE / DS_APP, on a real replica with a
 * scripted sync listing: start decree per primary term, the log hold, the checkpoint made in the
 * background and reported prepared, a new primary's own pick, meta's decree once listed, and the
 * dup checkpoints deleted once no duplication copies data.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pino } from "pino";
import type { MetaSession } from "../../src/client/meta-session.ts";
import { type Logger, silentLogger } from "../../src/common/logger.ts";
import type {
  DuplicationSyncEntry,
  DuplicationSyncRequest,
  DuplicationSyncResponse,
} from "../../src/protocol/duplication-messages.ts";
import { type ReplicaReport, ReplicaStatus } from "../../src/protocol/partition-config.ts";
import { type PartitionReplica, Replica } from "../../src/replica/index.ts";
import { checkpointFiles } from "../../src/replica-server/checkpoint-transfer.ts";
import { DuplicationAgent } from "../../src/replica-server/duplication-agent.ts";
import { FullSyncSource } from "../../src/replica-server/full-sync-source.ts";
import { b, tempDir } from "../replica/replica-fixture.ts";
import { eventually } from "../server/cluster-support.ts";
import { syncEntry } from "../support/sync-entry.ts";

const GPID = { appId: 3, partitionIndex: 0 };

function listed(
  status: DuplicationSyncEntry["status"],
  confirmed: number,
  fullSync: "create" | "resync" = "create",
): DuplicationSyncEntry {
  return syncEntry(5, { status, fullSync, confirmedDecrees: [confirmed] });
}

/** A logger keeping the messages it is given, in order. */
function recordingLogger(): { logger: Logger; messages: string[] } {
  const messages: string[] = [];
  const logger = pino(
    { level: "info" },
    { write: (line: string) => messages.push((JSON.parse(line) as { msg: string }).msg) },
  );
  return { logger, messages };
}

/** Where the scripted replica stands: its role, ballot and applied decree. */
interface ScriptedState {
  status: ReplicaStatus;
  ballot: number;
  applied: number;
}

/**
 * A real single replica in `<dataDir>/3.0`, and the replica as the source sees it: its decree
 * and role are `state`'s, its storage is the real one.
 */
async function scriptedReplica(
  dataDir: string,
  state: ScriptedState,
): Promise<{ lone: Replica; replica: PartitionReplica }> {
  const lone = await Replica.open({
    dir: join(dataDir, "3.0"),
    clusterId: 1,
    plogFsync: false,
    sweepIntervalMs: 0,
  });
  const replica = {
    gpid: GPID,
    get lastAppliedDecree() {
      return state.applied;
    },
    whenApplied: async () => {},
    flushStorage: () => lone.flushStorage(),
    checkpoint: (dir: string) => lone.checkpoint(dir),
    setDuplicationLogHold: () => {},
    report: (): ReplicaReport => ({
      gpid: GPID,
      ballot: state.ballot,
      status: state.status,
      lastCommittedDecree: state.applied,
      lastPreparedDecree: state.applied,
    }),
  } as unknown as PartitionReplica;
  return { lone, replica };
}

describe("FullSyncSource", () => {
  it("picks per primary term, holds the log, prepares in the background, and cleans up", async () => {
    const dataDir = tempDir("talaria-fullsync-");
    const state: ScriptedState = { status: ReplicaStatus.PRIMARY, ballot: 1, applied: 0 };
    const { lone, replica } = await scriptedReplica(dataDir, state);
    let dups: DuplicationSyncEntry[] = [];
    const source = new FullSyncSource(
      { dataDir, source: { sourceClusterId: 1 }, prepareRetryMs: 1 },
      {
        replica: () => replica,
        listed: () => dups,
        remoteTable: () => assert.fail("no re-sync here"),
        logger: silentLogger,
      },
    );
    const step = (list: DuplicationSyncEntry[]) => {
      dups = list;
      return source.reconcile(replica, replica.report(), list);
    };

    // An activating primary (nothing applied yet) picks nothing and holds everything.
    assert.deepEqual(step([listed("DS_PREPARE", -1)]), new Map([[5, 1]]));
    assert.equal(source.confirm(replica.report(), listed("DS_PREPARE", -1)), undefined);

    // Active: C = its last applied decree, once per term.
    for (let i = 0; i < 5; i++) {
      await lone.write({
        op: "set",
        hashKey: b(`k${i}`),
        sortKey: b(""),
        value: b("v"),
        expireTs: 0,
      });
    }
    state.applied = lone.lastAppliedDecree;
    const c1 = state.applied;
    assert.deepEqual(step([listed("DS_PREPARE", -1)]), new Map([[5, c1 + 1]]));
    await eventually("the checkpoint prepared", 10_000, async () => {
      step([listed("DS_PREPARE", -1)]);
      return (
        source.confirm(replica.report(), listed("DS_PREPARE", -1))?.checkpointPrepared === true
      );
    });
    assert.deepEqual(source.confirm(replica.report(), listed("DS_PREPARE", -1)), {
      dupid: 5,
      confirmedDecree: c1,
      checkpointPrepared: true,
    });
    state.applied = c1 + 7; // more writes: the pick of this term stays
    assert.equal(source.confirm(replica.report(), listed("DS_PREPARE", -1))?.confirmedDecree, c1);

    // A new primary term picks again from its own state.
    state.ballot = 2;
    await lone.write({ op: "set", hashKey: b("x"), sortKey: b(""), value: b("v"), expireTs: 0 });
    state.applied = lone.lastAppliedDecree;
    step([listed("DS_PREPARE", -1)]);
    const c2 = source.confirm(replica.report(), listed("DS_PREPARE", -1));
    assert.equal(c2?.confirmedDecree, state.applied);
    assert.equal(c2?.checkpointPrepared, false, "its checkpoint must cover the new pick");
    await eventually("the new checkpoint prepared", 10_000, async () => {
      step([listed("DS_PREPARE", -1)]);
      return (
        source.confirm(replica.report(), listed("DS_PREPARE", -1))?.checkpointPrepared === true
      );
    });

    // Once meta lists a decree, that is what is reported and held.
    assert.deepEqual(step([listed("DS_APP", c1)]), new Map([[5, c1 + 1]]));
    assert.deepEqual(source.confirm(replica.report(), listed("DS_APP", c1)), {
      dupid: 5,
      confirmedDecree: c1,
      checkpointPrepared: true,
    });
    // OPEN answers the newest checkpoint covering meta's decree.
    const opened = await source.server.open({ gpid: GPID });
    assert.ok(opened.decree >= state.applied);

    // A secondary holds from meta's decree and reports nothing of its own.
    state.status = ReplicaStatus.SECONDARY;
    assert.deepEqual(step([listed("DS_APP", c1)]), new Map([[5, c1 + 1]]));

    // Shipping (DS_LOG) or removed: the dup checkpoints go.
    const dir = join(dataDir, "3.0", "dup-checkpoints");
    assert.ok(readdirSync(dir).length >= 1);
    step([listed("DS_LOG", c1)]);
    await eventually("dup checkpoints deleted", 10_000, async () => readdirSync(dir).length === 0);
    assert.ok(existsSync(dir));
    await source.close();
    await lone.close();
  });

  it("lists a follower's checkpoint files with their CRC32C before any OPEN; a re-sync's never", async () => {
    for (const fullSync of ["create", "resync"] as const) {
      const dataDir = tempDir("talaria-fullsync-list-");
      const state: ScriptedState = { status: ReplicaStatus.PRIMARY, ballot: 1, applied: 0 };
      const { lone, replica } = await scriptedReplica(dataDir, state);
      await lone.write({ op: "set", hashKey: b("k"), sortKey: b(""), value: b("v"), expireTs: 0 });
      state.applied = lone.lastAppliedDecree;
      const { logger, messages } = recordingLogger();
      const list = [listed("DS_PREPARE", -1, fullSync)];
      const source = new FullSyncSource(
        { dataDir, source: { sourceClusterId: 1 }, prepareRetryMs: 1 },
        {
          replica: () => replica,
          listed: () => list,
          remoteTable: () => assert.fail("no re-sync runs in DS_PREPARE"),
          logger,
        },
      );
      await eventually(`${fullSync}: the checkpoint prepared`, 10_000, async () => {
        source.reconcile(replica, replica.report(), list);
        const entry = list[0] as DuplicationSyncEntry;
        return source.confirm(replica.report(), entry)?.checkpointPrepared === true;
      });
      const LISTED = "dup checkpoint files listed with their CRC32C";
      if (fullSync === "create") {
        await eventually("the files listed", 10_000, async () => messages.includes(LISTED));
        assert.equal(messages.includes("dup checkpoint opened by a follower"), false);
        // The OPEN answers from the list made before it: the files are not read again.
        const opened = await source.server.open({ gpid: GPID });
        assert.ok(opened.files.some((file) => file.name === "data.mdb"));
        assert.equal(messages.filter((m) => m === LISTED).length, 1);
      } else {
        // A few more syncs, then a listing of the same files of our own, which takes as long
        // as one started when the checkpoint was made: still nothing listed.
        for (let i = 0; i < 3; i++) source.reconcile(replica, replica.report(), list);
        const dir = join(dataDir, "3.0", "dup-checkpoints");
        for (const name of readdirSync(dir)) await checkpointFiles(join(dir, name));
        await new Promise((resolve) => setImmediate(resolve));
        assert.equal(messages.includes(LISTED), false, "a re-sync reads records, not files");
      }
      await source.close();
      await lone.close();
    }
  });
  it("a server syncs as soon as its dup checkpoint is made, not at the end of its period", async () => {
    const dataDir = tempDir("talaria-fullsync-soon-");
    const state: ScriptedState = { status: ReplicaStatus.PRIMARY, ballot: 1, applied: 0 };
    const { lone, replica } = await scriptedReplica(dataDir, state);
    await lone.write({ op: "set", hashKey: b("k"), sortKey: b(""), value: b("v"), expireTs: 0 });
    state.applied = lone.lastAppliedDecree;
    // Meta lists a full duplication waiting for this partition, and asks for the next sync in an
    // hour: only the checkpoint being made can bring it sooner.
    const HOUR_MS = 3_600_000;
    const requests: DuplicationSyncRequest[] = [];
    const reply: DuplicationSyncResponse = {
      apps: [{ appId: GPID.appId, partitionCount: 1, duplications: [listed("DS_PREPARE", -1)] }],
      nextSyncDelayMs: HOUR_MS,
    };
    const meta = {
      call: async (_method: string, request: DuplicationSyncRequest) => {
        requests.push(request);
        return reply;
      },
    } as unknown as MetaSession;
    const agent = new DuplicationAgent(
      {
        self: "127.0.0.1:1",
        dataDir,
        syncPeriodMs: HOUR_MS,
        source: { sourceClusterId: 1 },
        callTimeoutMs: 1000,
      },
      { meta, replicas: () => [replica] },
    );
    agent.start();
    await agent.syncOnce(); // the reply starts the pick and the checkpoint
    assert.equal(requests.length, 1);
    await eventually("a sync reporting the checkpoint", 10_000, async () => requests.length >= 2);
    const confirm = requests[1]?.partitions[0]?.confirms[0];
    assert.deepEqual(confirm, {
      dupid: 5,
      confirmedDecree: state.applied,
      checkpointPrepared: true,
    });
    await agent.close();
    await lone.close();
  });
});
