import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createClient } from "../../src/client/index.ts";
import { isTalariaError, TalariaError } from "../../src/common/index.ts";
import {
  DuplicationFailMode,
  DuplicationMethod,
  DuplicationStatus,
  FullSyncMode,
  PatternMatchType,
} from "../../src/protocol/index.ts";
import type { CallOptions, Transport } from "../../src/rpc/index.ts";
import {
  allVerbs,
  clientBackend,
  complete,
  errorLine,
  InterruptedError,
  SHELL_ADD_DUPLICATION_TIMEOUT_MS_DEFAULT,
  SHELL_ADMIN_TIMEOUT_MS_DEFAULT,
} from "../../src/shell/index.ts";
import type { FakeBackend } from "./fake-backend.ts";
import { FIRST_DUPID } from "./fake-duplications.ts";
import { harness } from "./helpers.ts";

const D1 = FIRST_DUPID;
const D2 = FIRST_DUPID + 1;
const CREATED = "2026-01-02T03:04:05.000Z";

/** The request of the last recorded call. */
function lastRequest(backend: FakeBackend): Record<string, unknown> {
  return (backend.calls.at(-1)?.args[0] ?? {}) as Record<string, unknown>;
}

/** A session with table temp (4 partitions) and users (2), and a duplication temp → dc2. */
async function withDup(options: { json?: boolean } = {}) {
  const h = harness(options);
  h.backend.addTable("temp");
  h.backend.addTable("users", 2);
  await h.backend.addDuplication({ appName: "temp", remoteClusterName: "dc2" });
  h.backend.calls.length = 0;
  return h;
}

describe("add_dup", () => {
  test("sends the request with the checkpoint flag explicit and prints the start point", async () => {
    const { backend, stdout, session } = harness();
    backend.addTable("temp");
    assert.deepEqual(await session.runInput("add_dup temp dc2 -a temp2 -r 2"), { kind: "ok" });
    assert.deepEqual(backend.calls.at(-1), {
      method: "addDuplication",
      args: [
        {
          appName: "temp",
          remoteClusterName: "dc2",
          remoteAppName: "temp2",
          remoteReplicaCount: 2,
          isDuplicatingCheckpoint: false,
        },
      ],
    });
    assert.deepEqual(stdout.lines(), [
      `add duplication succeed: app_name=temp remote_cluster_name=dc2 app_id=1 dupid=${D1} status=DS_LOG remote_app_name=temp2 remote_replica_count=2 is_duplicating_checkpoint=false`,
      "start_decrees: 10,11,12,13",
    ]);
  });

  test("--freezed creates it paused and says how to start it", async () => {
    const { backend, stdout, session } = harness();
    backend.addTable("temp");
    await session.runInput("add_dup temp dc2 --freezed");
    assert.deepEqual(lastRequest(backend).freezed, true);
    assert.match(stdout.lines()[0] ?? "", /status=DS_PAUSE/);
    assert.equal(stdout.lines().at(-1), `paused (freezed): start it with start_dup temp ${D1}`);
  });

  test("an answer in DS_INIT (the meta server's wait ran out) shows its hint", async () => {
    const { backend, stdout, session } = harness();
    backend.addTable("temp");
    backend.duplications.addTimesOut = true;
    await session.runInput("add_dup temp dc2");
    assert.deepEqual(stdout.lines().slice(1), [
      "the start point is not fixed yet: the duplication completes in the background (its status turns DS_LOG)",
      "hint: not every partition reported its start decree within 30000 ms",
    ]);
  });

  test("-s starts a full duplication: DS_PREPARE at once, and how to watch it", async () => {
    const { backend, stdout, session } = harness();
    backend.addTable("temp");
    assert.deepEqual(await session.runInput("add_dup temp dc2 -s --freezed"), { kind: "ok" });
    assert.equal(lastRequest(backend).isDuplicatingCheckpoint, true);
    assert.deepEqual(stdout.lines(), [
      `add duplication succeed: app_name=temp remote_cluster_name=dc2 app_id=1 dupid=${D1} status=DS_PREPARE remote_app_name=temp remote_replica_count=3 is_duplicating_checkpoint=true`,
      `full duplication started: the primaries make checkpoints (DS_PREPARE), the remote table copies them (DS_APP), then the log ships (DS_PAUSE); watch it with query_dup temp -d, or wait for it with wait_dup temp ${D1}`,
      `it stays paused (freezed) once copied: start it then with start_dup temp ${D1}`,
    ]);
  });

  test("a refusal of -s by the meta server is shown as is", async () => {
    const { backend, session } = harness();
    backend.addTable("temp");
    backend.failNext = new TalariaError("ERR_OPERATION_DISABLED", "duplication is disabled");
    const outcome = await session.runInput("add_dup temp dc2 -s");
    assert.equal(errorLine(outcome), "error: ERR_OPERATION_DISABLED: duplication is disabled");
  });

  test("an existing duplication to the cluster is ERR_DUP_EXIST; JSON carries its details", async () => {
    const { stdout, session } = await withDup({ json: true });
    const outcome = await session.runInput("add_dup temp dc2");
    assert.equal(outcome.kind, "failed");
    assert.deepEqual(stdout.documents(), [
      {
        command: "add_dup",
        ok: false,
        error: {
          code: "ERR_DUP_EXIST",
          message: "ERR_DUP_EXIST: temp already duplicates to dc2",
          details: { appId: 1, dupid: D1, status: "DS_LOG" },
        },
      },
    ]);
  });

  test("JSON: the meta server's answer with the request's names", async () => {
    const { backend, stdout, session } = harness({ json: true });
    backend.addTable("users", 2);
    await session.runInput("add_dup users dc3");
    assert.deepEqual(stdout.documents(), [
      {
        command: "add_dup",
        ok: true,
        result: {
          appName: "users",
          remoteClusterName: "dc3",
          isDuplicatingCheckpoint: false,
          appId: 1,
          dupid: D1,
          status: "DS_LOG",
          remoteAppName: "users",
          remoteReplicaCount: 3,
          startDecrees: [10, 11],
        },
      },
    ]);
  });
});

describe("query_dup", () => {
  test("a table of duplications with the total backlog; -d adds every partition", async () => {
    const { backend, stdout, session } = await withDup();
    await backend.addDuplication({ appName: "temp", remoteClusterName: "dc3", freezed: true });
    backend.duplications.setProgress("temp", D1, [
      { confirmedDecree: 5, lastCommittedDecree: 20 },
      { confirmedDecree: -1, lastCommittedDecree: 20 },
      { confirmedDecree: 7, lastCommittedDecree: 7 },
      { confirmedDecree: 1, lastCommittedDecree: 3 },
    ]);
    await session.runInput("query_dup temp");
    const table = [
      "dupid       status    fail_mode  remote_cluster  remote_app_name  created_at                backlog",
      `${D1}  DS_LOG    FAIL_SLOW  dc2             temp             ${CREATED}  17 (1 of 4 unknown)`,
      `${D2}  DS_PAUSE  FAIL_SLOW  dc3             temp             ${CREATED}  0`,
    ];
    const head = ["app_name         temp", "app_id           1", "partition_count  4", ""];
    assert.deepEqual(stdout.lines(), [...head, ...table, "", "2 duplications"]);
    stdout.clear();
    await session.runInput("query_dup temp -d");
    assert.deepEqual(stdout.lines(), [
      ...head,
      ...table,
      "",
      `dupid ${D1}:`,
      "pidx  confirmed_decree  last_committed_decree  backlog  failure",
      "0     5                 20                     15",
      "1     -1                20                     -",
      "2     7                 7                      0",
      "3     1                 3                      2",
      "",
      `dupid ${D2}:`,
      "pidx  confirmed_decree  last_committed_decree  backlog  failure",
      "0     10                10                     0",
      "1     11                11                     0",
      "2     12                12                     0",
      "3     13                13                     0",
      "",
      "2 duplications",
    ]);
  });

  test("a full sync adds a full_sync column: checkpoints prepared, then bytes copied and partitions done", async () => {
    const { backend, stdout, session } = await withDup();
    await session.runInput("add_dup temp dc3 -s");
    backend.duplications.setProgress("temp", D2, [
      { confirmedDecree: -1, lastCommittedDecree: 9, checkpointPrepared: true },
      { confirmedDecree: -1, lastCommittedDecree: 9, checkpointPrepared: false },
      { confirmedDecree: -1, lastCommittedDecree: 9, checkpointPrepared: true },
      { confirmedDecree: -1, lastCommittedDecree: 9, checkpointPrepared: false },
    ]);
    stdout.clear();
    await session.runInput("query_dup temp -d");
    const lines = stdout.lines();
    assert.equal(
      lines[4],
      "dupid       status      fail_mode  remote_cluster  remote_app_name  created_at                backlog  full_sync",
    );
    assert.match(lines[5] ?? "", /DS_LOG .* 0 +-$/);
    assert.match(lines[6] ?? "", /DS_PREPARE .* create: prepared 2\/4$/);
    backend.duplications.setRemoteError("temp", D2, {
      message: "ERR_NETWORK_FAILURE: connection to 10.0.0.9:34601 lost",
      failures: 3,
    });
    stdout.clear();
    await session.runInput("query_dup temp -d");
    assert.match(
      stdout.lines()[6] ?? "",
      /create: prepared 2\/4; remote meta failed 3x, retrying: ERR_NETWORK_FAILURE: connection to 10\.0\.0\.9:34601 lost$/,
    );
    // failures 0: no failed call, what the step waits for (a removed duplication's mark).
    backend.duplications.setRemoteError("temp", D2, {
      message:
        "waiting until the re-sync mark that removed duplication 7 left on dc3.temp is removed",
      failures: 0,
    });
    stdout.clear();
    await session.runInput("query_dup temp -d");
    assert.match(
      stdout.lines()[6] ?? "",
      /create: prepared 2\/4; waiting until the re-sync mark that removed duplication 7 left on dc3\.temp is removed$/,
    );
    backend.duplications.setRemoteError("temp", D2, undefined);
    stdout.clear();
    await session.runInput("query_dup temp -d");
    const second = lines.indexOf(`dupid ${D2}:`);
    assert.deepEqual(lines.slice(second + 1, second + 4), [
      "pidx  confirmed_decree  last_committed_decree  backlog  full_sync  failure",
      "0     -1                9                      -        prepared",
      "1     -1                9                      -        preparing",
    ]);
    assert.equal(
      lines[lines.indexOf(`dupid ${D1}:`) + 1],
      "pidx  confirmed_decree  last_committed_decree  backlog  failure",
      "no full_sync column for a duplication without one",
    );

    backend.duplications.setStatus("temp", D2, DuplicationStatus.DS_APP, FullSyncMode.CREATE);
    const copy = (doneBytes: number, done = false) => ({ doneBytes, totalBytes: 1024, done });
    backend.duplications.setProgress("temp", D2, [
      { confirmedDecree: 5, lastCommittedDecree: 9, copy: copy(1024, true) },
      { confirmedDecree: 5, lastCommittedDecree: 9, copy: copy(512) },
      { confirmedDecree: 5, lastCommittedDecree: 9, copy: copy(0) },
      {
        confirmedDecree: 5,
        lastCommittedDecree: 9,
        copy: { doneBytes: 0, totalBytes: 0, done: false },
      },
    ]);
    stdout.clear();
    await session.runInput("query_dup temp -d");
    const copying = stdout.lines();
    assert.match(
      copying[6] ?? "",
      /DS_APP .* create: copied 1\.5 KiB\/3\.0 KiB \(50\.0%\), 1\/4 done$/,
    );
    const rows = copying.indexOf(`dupid ${D2}:`);
    assert.deepEqual(copying.slice(rows + 2, rows + 6), [
      "0     5                 9                      4        done",
      "1     5                 9                      4        512 B/1.0 KiB (50.0%)",
      "2     5                 9                      4        0 B/1.0 KiB (0.0%)",
      "3     5                 9                      4        -/-",
    ]);

    // JSON and dups carry the same progress.
    stdout.clear();
    await session.runInput("dups -p -j");
    const listed = (JSON.parse(stdout.text) as { duplications: { fullSyncProgress?: unknown }[] })
      .duplications;
    assert.deepEqual(listed[1]?.fullSyncProgress, {
      mode: "create",
      status: "DS_APP",
      partitionCount: 4,
      partitionsPrepared: 4,
      partitionsDone: 1,
      doneBytes: 1536,
      totalBytes: 3072,
      percent: 50,
    });
    assert.equal(listed[0]?.fullSyncProgress, undefined);
    stdout.clear();
    await session.runInput("dups -p");
    const table = stdout.lines();
    assert.match(table[0] ?? "", /backlog +full_sync$/);
    assert.ok(
      table.some((line) => /temp +\d+ +1 +5 +9 +4 +512 B\/1\.0 KiB \(50\.0%\)$/.test(line)),
    );

    // Copies that finished between two polls left no size: the cell does not print "-/-".
    const unsized = { doneBytes: 0, totalBytes: 0, done: true };
    backend.duplications.setProgress(
      "temp",
      D2,
      [0, 1, 2, 3].map(() => ({ confirmedDecree: 5, lastCommittedDecree: 9, copy: unsized })),
    );
    stdout.clear();
    await session.runInput("query_dup temp");
    assert.match(stdout.lines()[6] ?? "", /DS_APP .* create: copied, 4\/4 done$/);
  });

  test("resync_dup re-syncs a duplication; a full sync in progress is ERR_INVALID_STATE", async () => {
    const { backend, stdout, session } = await withDup({ json: true });
    await session.runInput(`resync_dup temp ${D1}`);
    assert.deepEqual(backend.calls.at(-1), {
      method: "resyncDuplication",
      args: [{ appName: "temp", dupid: D1 }],
    });
    assert.deepEqual(stdout.documents(), [
      {
        command: "resync_dup",
        ok: true,
        result: {
          appName: "temp",
          appId: 1,
          dupid: D1,
          status: "DS_PREPARE",
          failMode: "FAIL_SLOW",
        },
      },
    ]);
    stdout.clear();
    const again = await session.runInput(`resync_dup temp ${D1}`);
    assert.ok(again.kind === "failed" && isTalariaError(again.error, "ERR_INVALID_STATE"));
    assert.equal((await session.runInput("resync_dup temp x")).kind, "usage");
  });

  test("a table without duplications says so; an unknown table is ERR_APP_NOT_EXIST", async () => {
    const { stdout, session } = await withDup();
    await session.runInput("query_dup users");
    assert.equal(stdout.lines().at(-1), "no duplication of table users");
    const outcome = await session.runInput("query_dup nosuch");
    assert.equal(outcome.kind, "failed");
    assert.match(errorLine(outcome) ?? "", /^error: ERR_APP_NOT_EXIST/);
  });

  test("JSON: every partition with its backlog (null when unknown) and the totals", async () => {
    const { backend, stdout, session } = await withDup({ json: true });
    backend.duplications.setProgress("temp", D1, [
      { confirmedDecree: 5, lastCommittedDecree: 20 },
      { confirmedDecree: -1, lastCommittedDecree: -1 },
      { confirmedDecree: 9, lastCommittedDecree: 8 },
      { confirmedDecree: 0, lastCommittedDecree: 0 },
    ]);
    await session.runInput("query_dup temp");
    const [doc] = stdout.documents();
    assert.deepEqual(doc, {
      command: "query_dup",
      ok: true,
      result: {
        appId: 1,
        appName: "temp",
        partitionCount: 4,
        duplications: [
          {
            dupid: D1,
            status: "DS_LOG",
            failMode: "FAIL_SLOW",
            remoteClusterName: "dc2",
            remoteAppName: "temp",
            remoteReplicaCount: 3,
            createdAtMs: D1 * 1000,
            partitionStates: [
              { partitionIndex: 0, confirmedDecree: 5, lastCommittedDecree: 20, backlog: 15 },
              { partitionIndex: 1, confirmedDecree: -1, lastCommittedDecree: -1, backlog: null },
              // A confirmed decree newer than the primary's last report: nothing is behind.
              { partitionIndex: 2, confirmedDecree: 9, lastCommittedDecree: 8, backlog: 0 },
              { partitionIndex: 3, confirmedDecree: 0, lastCommittedDecree: 0, backlog: 0 },
            ],
            backlog: 15,
            partitionsUnknown: 1,
            partitionsFailed: 0,
          },
        ],
      },
    });
  });
});

describe("failed partitions", () => {
  const failure = {
    kind: "paused_with_error" as const,
    code: "ERR_DUP_CLUSTER_ID_REFUSED",
    message: "ERR_DUP_CLUSTER_ID_REFUSED: cluster id 1 is this cluster's own",
    atDecree: 21,
  };

  async function failed(options: { json?: boolean } = {}) {
    const h = await withDup(options);
    await h.backend.modifyDuplication({
      appName: "temp",
      dupid: D1,
      status: DuplicationStatus.DS_PAUSE,
      failMode: DuplicationFailMode.FAIL_FAST,
    });
    h.backend.duplications.setProgress("temp", D1, [
      { confirmedDecree: 10, lastCommittedDecree: 10 },
      { confirmedDecree: 20, lastCommittedDecree: 25, failure },
      { confirmedDecree: 12, lastCommittedDecree: 12 },
      { confirmedDecree: 13, lastCommittedDecree: 13 },
    ]);
    h.backend.calls.length = 0;
    return h;
  }

  test("query_dup lists each failure; -d shows it on its partition", async () => {
    const { stdout, session } = await failed();
    await session.runInput("query_dup temp");
    const line = `dupid ${D1} partition 1: paused_with_error at decree 21: ERR_DUP_CLUSTER_ID_REFUSED: cluster id 1 is this cluster's own`;
    assert.deepEqual(stdout.lines().slice(-5), [
      `${D1}  DS_PAUSE  FAIL_FAST  dc2             temp             ${CREATED}  5`,
      "",
      line,
      "",
      "1 duplication",
    ]);
    stdout.clear();
    await session.runInput("query_dup temp -d");
    assert.ok(stdout.lines().includes(line), "the failure line");
    assert.ok(
      stdout
        .lines()
        .includes(
          "1     20                25                     5        paused_with_error at decree 21: ERR_DUP_CLUSTER_ID_REFUSED: cluster id 1 is this cluster's own",
        ),
      "the failure on its partition",
    );
  });

  test("dups -u calls it paused and failed and names the table in the failure line", async () => {
    const { stdout, session } = await failed();
    await session.runInput("dups -u");
    const lines = stdout.lines();
    assert.match(lines[1] ?? "", / {2}paused,failed$/);
    assert.ok(
      lines.includes(
        `temp dupid ${D1} partition 1: paused_with_error at decree 21: ERR_DUP_CLUSTER_ID_REFUSED: cluster id 1 is this cluster's own`,
      ),
      "the failure line",
    );
  });

  test("JSON carries the failure on its partition and counts the failed partitions", async () => {
    const { stdout, session } = await failed({ json: true });
    await session.runInput("query_dup temp");
    const [doc] = stdout.documents();
    const result = doc?.result as { duplications: Record<string, unknown>[] } | undefined;
    const [dup] = result?.duplications ?? [];
    assert.equal(dup?.partitionsFailed, 1);
    assert.deepEqual((dup?.partitionStates as unknown[] | undefined)?.[1], {
      partitionIndex: 1,
      confirmedDecree: 20,
      lastCommittedDecree: 25,
      failure,
      backlog: 5,
    });
  });
});

describe("the remote's clock", () => {
  async function skewed(options: { json?: boolean } = {}) {
    const h = await withDup(options);
    const within = { offsetMs: 12, uncertaintyMs: 3, skewExceeded: false };
    h.backend.duplications.setProgress("temp", D1, [
      { confirmedDecree: 10, lastCommittedDecree: 10, remoteClock: within },
      {
        confirmedDecree: 11,
        lastCommittedDecree: 11,
        remoteClock: { offsetMs: -400_049, uncertaintyMs: 5, skewExceeded: true },
      },
      { confirmedDecree: 12, lastCommittedDecree: 12, remoteClock: within },
      { confirmedDecree: 13, lastCommittedDecree: 13 },
    ]);
    h.backend.calls.length = 0;
    return h;
  }
  const line = `dupid ${D1} partition 1: the remote's clock is 400.0 s behind (± 5 ms), more than dup_max_clock_skew_seconds`;

  test("query_dup prints a partition whose shipper proved a skew beyond the limit", async () => {
    const { stdout, session } = await skewed();
    await session.runInput("query_dup temp");
    assert.deepEqual(stdout.lines().slice(-4), ["", line, "", "1 duplication"]);
  });

  test("dups -u calls it clock_skew, and a clock within the limit is healthy", async () => {
    const { backend, stdout, session } = await skewed();
    await session.runInput("dups -u");
    assert.match(stdout.lines()[1] ?? "", / {2}clock_skew$/);
    assert.ok(stdout.lines().includes(`temp ${line}`), "the skew line");
    backend.duplications.setProgress("temp", D1, [
      { confirmedDecree: 10, lastCommittedDecree: 10 },
      {
        confirmedDecree: 11,
        lastCommittedDecree: 11,
        remoteClock: { offsetMs: 400_000, uncertaintyMs: 5, skewExceeded: false },
      },
      { confirmedDecree: 12, lastCommittedDecree: 12 },
      { confirmedDecree: 13, lastCommittedDecree: 13 },
    ]);
    stdout.clear();
    await session.runInput("dups -u");
    assert.ok(!stdout.lines().some((l) => l.includes("clock")), stdout.lines().join("\n"));
  });

  test("JSON carries the reading on its partition", async () => {
    const { stdout, session } = await skewed({ json: true });
    await session.runInput("query_dup temp");
    const [doc] = stdout.documents();
    const result = doc?.result as { duplications: Record<string, unknown>[] } | undefined;
    const states = result?.duplications[0]?.partitionStates as Record<string, unknown>[];
    assert.deepEqual(states[1]?.remoteClock, {
      offsetMs: -400_049,
      uncertaintyMs: 5,
      skewExceeded: true,
    });
    assert.equal(states[3]?.remoteClock, undefined);
  });
});

describe("start_dup, pause_dup, remove_dup, set_dup_fail_mode", () => {
  test("each is one modify with the status or fail mode it names", async () => {
    const { backend, stdout, session } = await withDup();
    const outcome = await session.runInput(
      `pause_dup temp ${D1}; start_dup temp ${D1}; set_dup_fail_mode temp ${D1} skip; remove_dup temp ${D1}`,
    );
    assert.deepEqual(outcome, { kind: "ok" });
    assert.deepEqual(
      backend.calls.map((c) => c.args[0]),
      [
        { appName: "temp", dupid: D1, status: DuplicationStatus.DS_PAUSE },
        { appName: "temp", dupid: D1, status: DuplicationStatus.DS_LOG },
        { appName: "temp", dupid: D1, failMode: DuplicationFailMode.FAIL_SKIP },
        { appName: "temp", dupid: D1, status: DuplicationStatus.DS_REMOVED },
      ],
    );
    assert.deepEqual(stdout.lines(), [
      `pause duplication ${D1} of table temp succeed: status=DS_PAUSE fail_mode=FAIL_SLOW`,
      `start duplication ${D1} of table temp succeed: status=DS_LOG fail_mode=FAIL_SLOW`,
      `set fail mode of duplication ${D1} of table temp succeed: status=DS_LOG fail_mode=FAIL_SKIP`,
      `remove duplication ${D1} of table temp succeed: status=DS_REMOVED fail_mode=FAIL_SKIP`,
    ]);
    stdout.clear();
    await session.runInput("query_dup temp");
    assert.equal(stdout.lines().at(-1), "no duplication of table temp");
  });

  test("an unknown dupid is the meta server's ERR_OBJECT_NOT_FOUND", async () => {
    const { session } = await withDup();
    const outcome = await session.runInput("start_dup temp 12345");
    assert.equal(outcome.kind, "failed");
    assert.equal(
      errorLine(outcome),
      "error: ERR_OBJECT_NOT_FOUND: duplication 12345 of temp not found",
    );
  });

  test("fail modes: fast maps to FAIL_FAST; JSON is the modify answer with the table", async () => {
    const { stdout, session } = await withDup({ json: true });
    await session.runInput(`set_dup_fail_mode temp ${D1} fast`);
    assert.deepEqual(stdout.documents(), [
      {
        command: "set_dup_fail_mode",
        ok: true,
        result: { appName: "temp", appId: 1, dupid: D1, status: "DS_LOG", failMode: "FAIL_FAST" },
      },
    ]);
  });

  test("usage errors print the verb's usage and call nothing", async () => {
    const { backend, session } = await withDup();
    const outcome = await session.runInput("set_dup_fail_mode temp 1 sometimes");
    assert.equal(
      errorLine(outcome),
      'error: set_dup_fail_mode: the fail mode must be one of slow, skip, fast, got "sometimes" (usage: set_dup_fail_mode <app_name> <dupid> <slow|skip|fast>)',
    );
    assert.deepEqual(backend.calls, []);
  });
});

describe("dups", () => {
  /** temp → dc2 (lagging 17, one partition unknown), temp → dc3 (paused), users → dc2 (caught up). */
  async function three(options: { json?: boolean } = {}) {
    const h = await withDup(options);
    await h.backend.addDuplication({ appName: "temp", remoteClusterName: "dc3", freezed: true });
    await h.backend.addDuplication({ appName: "users", remoteClusterName: "dc2" });
    h.backend.duplications.setProgress("temp", D1, [
      { confirmedDecree: 5, lastCommittedDecree: 20 },
      { confirmedDecree: -1, lastCommittedDecree: 20 },
      { confirmedDecree: 7, lastCommittedDecree: 7 },
      { confirmedDecree: 1, lastCommittedDecree: 3 },
    ]);
    h.backend.calls.length = 0;
    return h;
  }

  test("lists every table's duplications with a summary", async () => {
    const { backend, stdout, session } = await three();
    await session.runInput("dups");
    assert.deepEqual(backend.calls[0], {
      method: "listDuplications",
      args: [{ matchType: PatternMatchType.MATCH_ALL }],
    });
    assert.deepEqual(stdout.lines(), [
      "app_id  app_name  dupid       status    fail_mode  remote_cluster  remote_app_name  created_at                backlog",
      `1       temp      ${D1}  DS_LOG    FAIL_SLOW  dc2             temp             ${CREATED}  17 (1 of 4 unknown)`,
      `1       temp      ${D2}  DS_PAUSE  FAIL_SLOW  dc3             temp             ${CREATED}  0`,
      `2       users     ${D2 + 1}  DS_LOG    FAIL_SLOW  dc2             users            ${CREATED}  0`,
      "",
      "total_app_count                             2",
      "duplicating_app_count                       2",
      "total_duplication_count                     3",
      "duplication_count_by_status(DS_LOG)         2",
      "duplication_count_by_status(DS_PAUSE)       1",
      "duplication_count_by_remote_cluster(dc2)    2",
      "duplication_count_by_remote_cluster(dc3)    1",
      "unhealthy_duplication_count(lag_gap=10000)  2",
      "listed_duplication_count                    3",
      "total_backlog                               17",
    ]);
  });

  test("-g lists only backlogs of at least the gap; -p adds their partitions", async () => {
    const { stdout, session } = await three();
    await session.runInput("dups -g 17 -p");
    const lines = stdout.lines();
    assert.equal(lines.filter((l) => l.startsWith("1 ") || l.startsWith("2 ")).length, 1);
    assert.match(lines[1] ?? "", new RegExp(`^1 +temp +${D1} `));
    assert.deepEqual(lines.slice(3, 8), [
      "app_name  dupid       pidx  confirmed_decree  last_committed_decree  backlog  failure",
      `temp      ${D1}  0     5                 20                     15`,
      `temp      ${D1}  1     -1                20                     -`,
      `temp      ${D1}  2     7                 7                      0`,
      `temp      ${D1}  3     1                 3                      2`,
    ]);
    assert.ok(
      lines.some((l) => /^listed_duplication_count +1$/.test(l)),
      "one duplication listed",
    );
    stdout.clear();
    await session.runInput("dups -g 18");
    assert.equal(stdout.lines()[0], "no duplication listed (3 duplications in 2 tables)");
  });

  test("-u lists paused, lagging and unknown-progress duplications with the reasons", async () => {
    const { stdout, session } = await three();
    await session.runInput("dups -u");
    const lines = stdout.lines();
    assert.match(lines[0] ?? "", /backlog +unhealthy$/);
    // Below the default lag gap, temp → dc2 is unhealthy only for its unknown partition.
    assert.match(lines[1] ?? "", new RegExp(`${D1} .* 17 \\(1 of 4 unknown\\)  progress_unknown$`));
    assert.match(lines[2] ?? "", new RegExp(`${D2} .*DS_PAUSE .* paused$`));
    assert.equal(lines[3], "");
    stdout.clear();
    await session.runInput("dups -u -g 10");
    assert.match(stdout.lines()[1] ?? "", /lagging,progress_unknown$/);
    assert.ok(
      stdout.lines().some((l) => /^unhealthy_duplication_count\(lag_gap=10\) +2$/.test(l)),
      "two unhealthy",
    );
  });

  test("-a matches anywhere unless -m says; the pattern goes to the meta server", async () => {
    const { backend, stdout, session } = await three();
    await session.runInput("dups -a ser; dups -a te -m prefix");
    assert.deepEqual(
      backend.calls.map((c) => c.args[0]),
      [
        { appNamePattern: "ser", matchType: PatternMatchType.MATCH_ANYWHERE },
        { appNamePattern: "te", matchType: PatternMatchType.MATCH_PREFIX },
      ],
    );
    assert.match(stdout.lines()[1] ?? "", /^2 +users /);
  });

  test("-j prints indented JSON; --json one document with the same result", async () => {
    const human = await three();
    await human.session.runInput("dups -a users -m exact -j");
    const indented = JSON.parse(human.stdout.text) as Record<string, unknown>;
    assert.match(human.stdout.lines()[1] ?? "", /^ {2}"duplications": \[$/);
    const { stdout, session } = await three({ json: true });
    await session.runInput("dups -a users -m exact -j");
    const [doc] = stdout.documents();
    assert.deepEqual(doc?.result, indented);
    assert.deepEqual(indented.summary, {
      totalAppCount: 1,
      duplicatingAppCount: 1,
      totalDuplicationCount: 1,
      unhealthyDuplicationCount: 0,
      listedDuplicationCount: 1,
      countByStatus: { DS_LOG: 1 },
      countByRemoteCluster: { dc2: 1 },
      totalBacklog: 0,
      lagGap: 10_000,
    });
    const [listed] = indented.duplications as Record<string, unknown>[];
    assert.equal(listed?.appName, "users");
    assert.deepEqual(listed?.unhealthy, []);
    assert.equal(listed?.backlog, 0);
  });
});

describe("dup (admin-cli dialect)", () => {
  test("works on the current table: no table selected is a usage error naming the sub-command", async () => {
    const { backend, session } = await withDup();
    const outcome = await session.runInput("dup list");
    assert.equal(outcome.kind, "usage");
    assert.equal(
      errorLine(outcome),
      "error: dup list: no table selected; run use <app_name> first (usage: dup list [-d|--detail])",
    );
    assert.deepEqual(backend.calls, []);
  });

  test("add, list, pause, start, fail_mode, remove on the current table", async () => {
    const { backend, stdout, session } = await withDup();
    await session.runInput("use users");
    stdout.clear();
    backend.calls.length = 0;
    const outcome = await session.runInput(
      "dup add -c dc3 -a u2 -r 1 -f; dup start -d " +
        `${D2}; dup pause -d ${D2}; dup fail_mode fast -d ${D2}; dup ls; dup rm -d ${D2}`,
    );
    assert.deepEqual(outcome, { kind: "ok" });
    assert.deepEqual(
      backend.calls.map((c) => [c.method, c.args[0]]),
      [
        [
          "addDuplication",
          {
            appName: "users",
            remoteClusterName: "dc3",
            remoteAppName: "u2",
            remoteReplicaCount: 1,
            isDuplicatingCheckpoint: false,
            freezed: true,
          },
        ],
        ["modifyDuplication", { appName: "users", dupid: D2, status: DuplicationStatus.DS_LOG }],
        ["modifyDuplication", { appName: "users", dupid: D2, status: DuplicationStatus.DS_PAUSE }],
        [
          "modifyDuplication",
          { appName: "users", dupid: D2, failMode: DuplicationFailMode.FAIL_FAST },
        ],
        ["queryDuplication", "users"],
        [
          "modifyDuplication",
          { appName: "users", dupid: D2, status: DuplicationStatus.DS_REMOVED },
        ],
      ],
    );
    const lines = stdout.lines();
    assert.equal(lines[2], `paused (freezed): start it with dup start -d ${D2}`);
    assert.equal(
      lines[3],
      `start duplication ${D2} of table users succeed: status=DS_LOG fail_mode=FAIL_SLOW`,
    );
    assert.ok(
      lines.includes(`${D2}  DS_PAUSE  FAIL_FAST  dc3             u2               ${CREATED}  0`),
      "the listed duplication",
    );
    assert.equal(
      lines.at(-1),
      `remove duplication ${D2} of table users succeed: status=DS_REMOVED fail_mode=FAIL_FAST`,
    );
  });

  test("JSON documents name the sub-command; usage errors too", async () => {
    const { stdout, session } = await withDup({ json: true });
    await session.runInput("use temp; dup list");
    const [, list] = stdout.documents();
    assert.equal(list?.command, "dup list");
    assert.equal((list?.result as { appName?: string } | undefined)?.appName, "temp");
    stdout.clear();
    await session.runInput("dup pause");
    assert.deepEqual(stdout.documents(), [
      {
        command: "dup pause",
        ok: false,
        error: {
          code: "ERR_INVALID_PARAMETERS",
          message: "dup pause: missing -d|--dupid num (usage: dup pause -d|--dupid num)",
        },
      },
    ]);
    stdout.clear();
    await session.runInput("dup -p");
    const [missing] = stdout.documents();
    assert.equal(missing?.command, "dup");
  });

  test("dup add -p starts a full duplication; dup resync -d re-syncs one", async () => {
    const { backend, stdout, session } = await withDup();
    await session.runInput("use users");
    stdout.clear();
    assert.deepEqual(await session.runInput("dup add -c dc2 -p"), { kind: "ok" });
    assert.equal(lastRequest(backend).isDuplicatingCheckpoint, true);
    assert.match(
      stdout.lines()[1] ?? "",
      /watch it with dup list -d, or wait for it with dup wait -d \d+$/,
    );
    stdout.clear();
    assert.deepEqual(await session.runInput(`use temp; dup resync -d ${D1}`), { kind: "ok" });
    assert.deepEqual(backend.calls.at(-1), {
      method: "resyncDuplication",
      args: [{ appName: "temp", dupid: D1 }],
    });
    assert.deepEqual(stdout.lines().slice(-2), [
      `resync duplication ${D1} of table temp succeed: status=DS_PREPARE fail_mode=FAIL_SLOW`,
      `the primaries make checkpoints and send them to the remote table, then the log ships again; watch it with dup list -d, or wait for it with dup wait -d ${D1}`,
    ]);
  });
});

describe("wait_dup / dup wait", () => {
  /** Bar updates as [doneBytes, totalBytes, phase], and whether the bar was stopped. */
  function recordingBar() {
    const updates: [number, number, string][] = [];
    let stops = 0;
    const factory = () => ({
      update: (done: number, total: number, phase: string) => {
        updates.push([done, total, phase]);
      },
      stop: () => {
        stops += 1;
      },
    });
    return { factory, updates, stops: () => stops };
  }

  /** A sleep that runs the next step of `script` (one per poll) and records each wait. */
  function scripted(script: (() => void)[]) {
    const waits: number[] = [];
    const sleep = async (ms: number) => {
      waits.push(ms);
      const step = script.shift();
      assert.ok(step !== undefined, "polled more often than the script has steps");
      step();
    };
    return { sleep, waits };
  }

  const copy = (doneBytes: number, totalBytes: number, done = false) => ({
    confirmedDecree: 5,
    lastCommittedDecree: 9,
    copy: { doneBytes, totalBytes, done },
  });

  test("follows a full duplication through DS_PREPARE and DS_APP to DS_LOG, with its share on the bar", async () => {
    const bar = recordingBar();
    let backend: FakeBackend | undefined;
    const steps = scripted([
      () => {
        backend?.duplications.setStatus("temp", D2, DuplicationStatus.DS_APP, FullSyncMode.CREATE);
        // One copy too quick for the remote to report its size: the bar counts partitions.
        backend?.duplications.setProgress("temp", D2, [
          copy(0, 0, true),
          copy(0, 0),
          copy(0, 0),
          copy(0, 0),
        ]);
      },
      () =>
        backend?.duplications.setProgress("temp", D2, [
          copy(100, 100, true),
          copy(50, 100),
          copy(0, 100),
          copy(0, 100),
        ]),
      () => backend?.duplications.setStatus("temp", D2, DuplicationStatus.DS_LOG, undefined),
    ]);
    const h = harness({ phaseProgress: bar.factory, sleep: steps.sleep });
    backend = h.backend;
    h.backend.addTable("temp");
    await h.session.runInput("add_dup temp dc2");
    await h.session.runInput("add_dup temp dc3 -s");
    h.stdout.clear();
    assert.deepEqual(await h.session.runInput(`wait_dup temp ${D2}`), { kind: "ok" });
    assert.deepEqual(h.stdout.lines(), [
      `duplication ${D2} of table temp: DS_LOG`,
      "it ships the log",
    ]);
    assert.deepEqual(steps.waits, [1000, 1000, 1000]);
    assert.deepEqual(bar.updates, [
      [0, 0, "create: prepared 0/4"],
      [1, 4, "create: copied -/-, 1/4 done"],
      [150, 400, "create: copied 150 B/400 B (37.5%), 1/4 done"],
    ]);
    assert.equal(bar.stops(), 1);
    assert.equal(
      h.backend.calls.filter((call) => call.method === "queryDuplication").length,
      4,
      "one query per poll",
    );
  });

  test("answers at once for a shipping duplication; a freezed one says how to start it, in each dialect", async () => {
    const { backend, stdout, session } = await withDup();
    assert.deepEqual(await session.runInput(`wait_dup temp ${D1}`), { kind: "ok" });
    assert.deepEqual(stdout.lines(), [
      `duplication ${D1} of table temp: DS_LOG`,
      "it ships the log",
    ]);
    await backend.addDuplication({ appName: "temp", remoteClusterName: "dc3", freezed: true });
    stdout.clear();
    await session.runInput(`wait_dup temp ${D2}; use temp; dup wait -d ${D2}`);
    const lines = stdout.lines();
    assert.deepEqual(lines.slice(0, 2), [
      `duplication ${D2} of table temp: DS_PAUSE`,
      `it is paused: start it with start_dup temp ${D2}`,
    ]);
    assert.deepEqual(lines.slice(-2), [
      `duplication ${D2} of table temp: DS_PAUSE`,
      `it is paused: start it with dup start -d ${D2}`,
    ]);
  });

  test("a dupid the table lacks, or one removed while waiting, is ERR_OBJECT_NOT_FOUND", async () => {
    let backend: FakeBackend | undefined;
    const steps = scripted([
      () => {
        void backend?.modifyDuplication({
          appName: "temp",
          dupid: D2,
          status: DuplicationStatus.DS_REMOVED,
        });
      },
    ]);
    const bar = recordingBar();
    const h = harness({ phaseProgress: bar.factory, sleep: steps.sleep });
    backend = h.backend;
    h.backend.addTable("temp");
    await h.session.runInput("add_dup temp dc2; add_dup temp dc3 -s");
    const missing = await h.session.runInput("wait_dup temp 17");
    assert.equal(missing.kind, "failed");
    assert.match(
      errorLine(missing) ?? "",
      /ERR_OBJECT_NOT_FOUND: table temp has no duplication 17/,
    );
    const removed = await h.session.runInput(`wait_dup temp ${D2}`);
    assert.match(
      errorLine(removed) ?? "",
      new RegExp(`ERR_OBJECT_NOT_FOUND: duplication ${D2} of table temp is gone`),
    );
    assert.equal(bar.stops(), 2, "the bar is removed whatever the end");
  });

  test("a meta server that does not answer for a while is waited for; a refusal is not", async () => {
    let backend: FakeBackend | undefined;
    const bar = recordingBar();
    const steps = scripted([
      () => {
        if (backend !== undefined)
          backend.failNext = new TalariaError("ERR_TIMEOUT", "no answer from the meta server");
      },
      () => backend?.duplications.setStatus("temp", D1, DuplicationStatus.DS_LOG, undefined),
      () => {},
    ]);
    const h = harness({ phaseProgress: bar.factory, sleep: steps.sleep });
    backend = h.backend;
    h.backend.addTable("temp");
    await h.session.runInput("add_dup temp dc2 -s");
    assert.deepEqual(await h.session.runInput(`wait_dup temp ${D1}`), { kind: "ok" });
    assert.equal(
      bar.updates[1]?.[2],
      "meta server not answering (1x), retrying: ERR_TIMEOUT: no answer from the meta server",
    );
    assert.match(h.stdout.lines().at(-2) ?? "", /: DS_LOG$/);

    h.backend.duplications.setStatus("temp", D1, DuplicationStatus.DS_PREPARE, FullSyncMode.CREATE);
    h.backend.failNext = new TalariaError("ERR_APP_NOT_EXIST", "table temp does not exist");
    const refused = await h.session.runInput(`wait_dup temp ${D1}`);
    assert.match(errorLine(refused) ?? "", /table temp does not exist/);
  });

  test("Ctrl-C stops the waiting, not the duplication; JSON has no bar", async () => {
    const bar = recordingBar();
    const h = harness({
      phaseProgress: bar.factory,
      sleep: async () => {
        throw new InterruptedError("interrupted");
      },
    });
    h.backend.addTable("temp");
    await h.session.runInput("add_dup temp dc2 -s");
    assert.deepEqual(await h.session.runInput(`wait_dup temp ${D1}`), { kind: "interrupted" });
    assert.equal(bar.stops(), 1);
    const calls = h.backend.calls.map((call) => call.method);
    assert.ok(!calls.includes("modifyDuplication"), "nothing asked of the duplication");

    const json = harness({ json: true, phaseProgress: bar.factory });
    json.backend.addTable("temp");
    await json.backend.addDuplication({ appName: "temp", remoteClusterName: "dc2" });
    await json.session.runInput(`wait_dup temp ${D1}`);
    const [document] = json.stdout.documents();
    assert.equal(document?.command, "wait_dup");
    const result = document?.result as { appName: string; duplication: { status: string } };
    assert.equal(result.appName, "temp");
    assert.equal(result.duplication.status, "DS_LOG");
    assert.equal(bar.updates.length, 1, "only the first session drew (DS_PREPARE, once)");
  });
});

describe("help and completion of the duplication verbs", () => {
  test("help dup lists the sub-commands; help dup add describes one", async () => {
    const { stdout, session } = harness();
    await session.runInput("help dup");
    assert.deepEqual(stdout.lines().slice(0, 4), [
      "usage: dup <add|list|pause|start|remove|fail_mode|resync|wait> [flags ...]",
      "duplications of the current table, admin-cli style: dup add|list|pause|start|remove|fail_mode|resync|wait",
      "sub-commands (help <command> <sub-command> for its flags):",
      "  dup add -c|--cluster str [-a|--remote_app_name str] [-r|--remote_replica_count num] [-f|--freezed] [-p|--checkpoint]",
    ]);
    stdout.clear();
    await session.runInput("help dup rm");
    assert.deepEqual(stdout.lines().slice(0, 2), [
      "usage: dup remove -d|--dupid num",
      "remove a duplication",
    ]);
    stdout.clear();
    await session.runInput("help");
    const lines = stdout.lines();
    const group = lines.indexOf("duplication");
    assert.ok(group > 0, "a duplication group");
    assert.match(lines[group + 1] ?? "", /^ {2}add_dup +duplicate a table to a remote cluster/);
  });

  test("completion: sub-commands, their flags, fail modes; table names for the dup verbs", () => {
    const source = { verbs: allVerbs, tables: ["temp", "users"] };
    const candidates = (line: string) => complete(line, source)[0];
    assert.deepEqual(candidates("dup "), [
      "add",
      "fail_mode",
      "list",
      "ls",
      "pause",
      "remove",
      "resync",
      "rm",
      "start",
      "wait",
    ]);
    assert.deepEqual(candidates("dup r"), ["remove", "resync", "rm"]);
    assert.deepEqual(candidates("resync_dup t"), ["temp"]);
    assert.deepEqual(candidates("dup add --c"), ["--checkpoint", "--cluster"]);
    assert.deepEqual(candidates("dups -m p"), ["postfix", "prefix"]);
    assert.deepEqual(candidates("help dup f"), ["fail_mode"]);
    assert.deepEqual(candidates("add_dup t"), ["temp"]);
    assert.deepEqual(candidates("replay_dead_letters u"), ["users"]);
  });
});

describe("clientBackend duplication calls", () => {
  function recordingTransport() {
    const calls: { address: string; method: string; payload: unknown; timeoutMs?: number }[] = [];
    const transport: Transport = {
      async call(address: string, method: string, payload: unknown, options?: CallOptions) {
        calls.push({
          address,
          method,
          payload,
          ...(options?.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        });
        return { ok: true };
      },
    };
    return { calls, transport };
  }

  test("add waits longer than the meta server's addWaitMs; the others use the admin deadline", async () => {
    const { calls, transport } = recordingTransport();
    const backend = clientBackend(createClient({ metaServers: ["meta:1"], transport }), {
      transport,
    });
    await backend.addDuplication({ appName: "t", remoteClusterName: "dc2" });
    await backend.modifyDuplication({ appName: "t", dupid: 1, status: DuplicationStatus.DS_PAUSE });
    await backend.queryDuplication("t");
    await backend.listDuplications({});
    await backend.resyncDuplication({ appName: "t", dupid: 1 });
    await backend.callNode("10.0.0.1:34801", "replica.x", { a: 1 }, 1234);
    assert.equal(SHELL_ADD_DUPLICATION_TIMEOUT_MS_DEFAULT, 40_000);
    assert.deepEqual(
      calls.map((c) => [c.address, c.method, c.timeoutMs]),
      [
        ["meta:1", DuplicationMethod.ADD, SHELL_ADD_DUPLICATION_TIMEOUT_MS_DEFAULT],
        ["meta:1", DuplicationMethod.MODIFY, SHELL_ADMIN_TIMEOUT_MS_DEFAULT],
        ["meta:1", DuplicationMethod.QUERY, SHELL_ADMIN_TIMEOUT_MS_DEFAULT],
        ["meta:1", DuplicationMethod.LIST, SHELL_ADMIN_TIMEOUT_MS_DEFAULT],
        ["meta:1", DuplicationMethod.RESYNC, SHELL_ADMIN_TIMEOUT_MS_DEFAULT],
        ["10.0.0.1:34801", "replica.x", 1234],
      ],
    );
    assert.deepEqual(calls[2]?.payload, { appName: "t" });
  });

  test("without a transport, callNode fails ERR_INVALID_STATE", async () => {
    const { transport } = recordingTransport();
    const backend = clientBackend(createClient({ metaServers: ["meta:1"], transport }));
    await assert.rejects(
      backend.callNode("10.0.0.1:34801", "replica.x", {}, 1000),
      (error: unknown) => isTalariaError(error, "ERR_INVALID_STATE"),
    );
  });
});
