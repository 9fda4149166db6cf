import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isTalariaError, TalariaError } from "../../src/common/index.ts";
import {
  DEAD_LETTER_LIST_LIMIT_MAX,
  DeadLetterMethod,
  type DeadLetterSummary,
  decodeListDeadLettersRequest,
  decodeListDeadLettersResponse,
  decodeReplayDeadLettersRequest,
  decodeReplayDeadLettersResponse,
  type ListDeadLettersResponse,
  NodeStatus,
  type ReplayDeadLettersResponse,
} from "../../src/protocol/index.ts";
import { errorLine } from "../../src/shell/index.ts";
import { CREATED_AT_MS } from "./fake-backend.ts";
import { harness } from "./helpers.ts";

const N1 = "10.0.0.1:34801";
const N2 = "10.0.0.2:34801"; // dead in the fake
const N3 = "10.0.0.3:34801";
const DUPID = 1_767_323_045;

function letter(gpid: string, id: number, overrides: Partial<DeadLetterSummary> = {}) {
  return {
    gpid,
    dupid: DUPID,
    id,
    createdAtMs: CREATED_AT_MS,
    entries: 3,
    fromDecree: 10 * id,
    toDecree: 10 * id + 2,
    error: { code: "ERR_TIMEOUT", message: "ERR_TIMEOUT: no answer from 10.1.0.7:34801" },
    ...overrides,
  };
}

/** A session with table temp, nodes N1 (alive), N2 (dead), N3 (alive), and node answers by address. */
function setup(
  answers: Record<string, (method: string, payload: unknown) => unknown>,
  options: { json?: boolean } = {},
) {
  const h = harness(options);
  h.backend.addTable("temp");
  h.backend.nodes.push({
    address: N3,
    status: NodeStatus.ALIVE,
    primaryCount: 2,
    replicaCount: 6,
  });
  h.backend.nodeHandler = async (address, method, payload) => {
    const answer = answers[address];
    if (answer === undefined)
      throw new TalariaError("ERR_NETWORK_FAILURE", `no route to ${address}`);
    return answer(method, payload);
  };
  return h;
}

function listAnswer(node: string, letters: ReturnType<typeof letter>[], total?: number) {
  return (): ListDeadLettersResponse => ({
    node,
    letters,
    counts: {
      letters: total ?? letters.length,
      entries: letters.reduce((sum, l) => sum + l.entries, 0),
    },
  });
}

describe("dup_dead_letters", () => {
  test("asks every alive replica server for the table's letters and merges them in gpid order", async () => {
    const { backend, stdout, session } = setup({
      [N1]: listAnswer(N1, [letter("1.2", 4), letter("1.0", 1)]),
      [N3]: listAnswer(N3, [
        letter("1.1", 2, {
          entries: 0,
          error: { code: "ERR_CORRUPTION", message: "plog record at 4096 is corrupt" },
        }),
      ]),
    });
    assert.deepEqual(await session.runInput(`dup_dead_letters temp ${DUPID}`), { kind: "ok" });
    const nodeCalls = backend.calls.filter((c) => c.method === "callNode");
    assert.deepEqual(
      nodeCalls.map((c) => c.args),
      [
        [N1, DeadLetterMethod.LIST, { appId: 1, dupid: DUPID, limit: 100 }, 10_000],
        [N3, DeadLetterMethod.LIST, { appId: 1, dupid: DUPID, limit: 100 }, 10_000],
      ],
    );
    assert.deepEqual(stdout.lines(), [
      "node            gpid  dupid       id  created_at                entries  decrees  error",
      `${N1}  1.0   ${DUPID}  1   2026-01-02T03:04:05.000Z  3        10-12    ERR_TIMEOUT: no answer from 10.1.0.7:34801`,
      `${N3}  1.1   ${DUPID}  2   2026-01-02T03:04:05.000Z  0        20-22    ERR_CORRUPTION: plog record at 4096 is corrupt`,
      `${N1}  1.2   ${DUPID}  4   2026-01-02T03:04:05.000Z  3        40-42    ERR_TIMEOUT: no answer from 10.1.0.7:34801`,
      "",
      "3 letters (6 entries) on 2 of 2 alive nodes",
      `not asked (dead): ${N2}; their letters stay on their disks`,
    ]);
  });

  test("a node that fails or answers garbage is reported; the others still list", async () => {
    const { stdout, session } = setup({
      [N1]: listAnswer(N1, [letter("1.0", 1)], 250),
      [N3]: () => ({ node: N3, letters: "nope", counts: { letters: 0, entries: 0 } }),
    });
    assert.deepEqual(await session.runInput("dup_dead_letters temp -n 1"), { kind: "ok" });
    const lines = stdout.lines();
    assert.deepEqual(lines.slice(-4), [
      "250 letters (3 entries) on 1 of 2 alive nodes",
      "listed 1: at most 1 per node (-n, up to 1000)",
      `node ${N3} did not answer: ERR_INVALID_PARAMETERS: letters: expected an array, got string`,
      `not asked (dead): ${N2}; their letters stay on their disks`,
    ]);
  });

  test("no letters, and JSON with every node's counts, failures and dead nodes", async () => {
    const human = setup({ [N1]: listAnswer(N1, []), [N3]: listAnswer(N3, []) });
    await human.session.runInput("dup_dead_letters temp");
    assert.equal(human.stdout.lines()[0], "no dead letter of table temp");
    assert.deepEqual(
      human.backend.calls.filter((c) => c.method === "callNode").map((c) => c.args[2]),
      [
        { appId: 1, limit: 100 },
        { appId: 1, limit: 100 },
      ],
    );
    const { stdout, session } = setup({ [N1]: listAnswer(N1, [letter("1.3", 7)]) }, { json: true });
    await session.runInput(`dup_dead_letters temp ${DUPID}`);
    assert.deepEqual(stdout.documents(), [
      {
        command: "dup_dead_letters",
        ok: true,
        result: {
          appName: "temp",
          appId: 1,
          dupid: DUPID,
          letters: [{ node: N1, ...letter("1.3", 7) }],
          counts: { letters: 1, entries: 3 },
          nodes: [{ node: N1, counts: { letters: 1, entries: 3 } }],
          failedNodes: [
            {
              node: N3,
              code: "ERR_NETWORK_FAILURE",
              message: `ERR_NETWORK_FAILURE: no route to ${N3}`,
            },
          ],
          deadNodes: [N2],
        },
      },
    ]);
  });

  test("an unknown table fails before any node is called", async () => {
    const { backend, session } = setup({});
    const outcome = await session.runInput("dup_dead_letters nosuch");
    assert.match(errorLine(outcome) ?? "", /^error: ERR_APP_NOT_EXIST/);
    assert.equal(backend.calls.filter((c) => c.method === "callNode").length, 0);
  });
});

describe("replay_dead_letters", () => {
  const replayAnswer =
    (node: string, values: Omit<ReplayDeadLettersResponse, "node">) =>
    (): ReplayDeadLettersResponse => ({ node, ...values });

  test("replays on every alive node and sums", async () => {
    const { backend, stdout, session } = setup({
      [N1]: replayAnswer(N1, {
        replayedLetters: 3,
        replayedEntries: 30,
        supersededRecords: 4,
        failed: 1,
        notReplayable: 0,
      }),
      [N3]: replayAnswer(N3, {
        replayedLetters: 2,
        replayedEntries: 5,
        supersededRecords: 0,
        failed: 0,
        notReplayable: 1,
      }),
    });
    assert.deepEqual(await session.runInput(`replay_dead_letters temp ${DUPID}`), { kind: "ok" });
    assert.deepEqual(
      backend.calls.filter((c) => c.method === "callNode").map((c) => c.args),
      [
        [N1, DeadLetterMethod.REPLAY, { appId: 1, dupid: DUPID }, 120_000],
        [N3, DeadLetterMethod.REPLAY, { appId: 1, dupid: DUPID }, 120_000],
      ],
    );
    assert.deepEqual(stdout.lines(), [
      "node            replayed_letters  replayed_entries  superseded_records  failed  not_replayable",
      `${N1}  3                 30                4                   1       0`,
      `${N3}  2                 5                 0                   0       1`,
      "total           5                 35                4                   1       1",
      "1 letter could not be sent and was kept: replay again once the remote accepts them",
      "1 letter record unreadable plog decrees: not replayable, kept for a full re-sync to cover",
      `not asked (dead): ${N2}; their letters stay on their disks`,
    ]);
  });

  test("a node that does not answer fails the command with its code, after the others replayed", async () => {
    const { stdout, session } = setup(
      {
        [N1]: replayAnswer(N1, {
          replayedLetters: 3,
          replayedEntries: 30,
          supersededRecords: 0,
          failed: 0,
          notReplayable: 0,
        }),
        [N3]: () => {
          throw new TalariaError("ERR_TIMEOUT", "no answer in 120000 ms");
        },
      },
      { json: true },
    );
    const outcome = await session.runInput(`replay_dead_letters temp ${DUPID}`);
    assert.equal(outcome.kind, "failed");
    assert.ok(outcome.kind === "failed" && isTalariaError(outcome.error, "ERR_TIMEOUT"), "timeout");
    const [doc] = stdout.documents();
    const error = doc?.error as { message: string; details: Record<string, unknown> };
    assert.equal(
      error.message,
      `ERR_TIMEOUT: replay_dead_letters reached 1 of 2 alive nodes (${N3}: ERR_TIMEOUT: no answer in 120000 ms); the others replayed 3 letters; replaying again is safe`,
    );
    assert.deepEqual(error.details.total, {
      replayedLetters: 3,
      replayedEntries: 30,
      supersededRecords: 0,
      failed: 0,
      notReplayable: 0,
    });
    assert.deepEqual(error.details.failedNodes, [
      { node: N3, code: "ERR_TIMEOUT", message: "ERR_TIMEOUT: no answer in 120000 ms" },
    ]);
  });

  test("JSON: per node and total", async () => {
    const { stdout, session } = setup(
      {
        [N1]: replayAnswer(N1, {
          replayedLetters: 1,
          replayedEntries: 2,
          supersededRecords: 1,
          failed: 0,
          notReplayable: 0,
        }),
        [N3]: replayAnswer(N3, {
          replayedLetters: 0,
          replayedEntries: 0,
          supersededRecords: 0,
          failed: 0,
          notReplayable: 0,
        }),
      },
      { json: true },
    );
    await session.runInput(`replay_dead_letters temp ${DUPID}`);
    const [doc] = stdout.documents();
    assert.deepEqual(doc?.result, {
      appName: "temp",
      appId: 1,
      dupid: DUPID,
      nodes: [
        {
          node: N1,
          replayedLetters: 1,
          replayedEntries: 2,
          supersededRecords: 1,
          failed: 0,
          notReplayable: 0,
        },
        {
          node: N3,
          replayedLetters: 0,
          replayedEntries: 0,
          supersededRecords: 0,
          failed: 0,
          notReplayable: 0,
        },
      ],
      total: {
        replayedLetters: 1,
        replayedEntries: 2,
        supersededRecords: 1,
        failed: 0,
        notReplayable: 0,
      },
      deadNodes: [N2],
    });
  });
});

describe("dead-letter messages", () => {
  test("the method names the replica servers serve", () => {
    assert.deepEqual(DeadLetterMethod, {
      LIST: "replica.dup_dead_letters",
      REPLAY: "replica.dup_replay_dead_letters",
    });
  });

  test("requests decode with their bounds; absent optional fields stay absent", () => {
    assert.deepEqual(decodeListDeadLettersRequest({}), {});
    assert.deepEqual(decodeListDeadLettersRequest(undefined), {});
    assert.deepEqual(decodeListDeadLettersRequest({ appId: 2, dupid: 7, limit: 1000 }), {
      appId: 2,
      dupid: 7,
      limit: 1000,
    });
    const invalid = (f: () => unknown) =>
      assert.throws(f, (error: unknown) => isTalariaError(error, "ERR_INVALID_PARAMETERS"));
    invalid(() => decodeListDeadLettersRequest({ limit: DEAD_LETTER_LIST_LIMIT_MAX + 1 }));
    invalid(() => decodeListDeadLettersRequest({ limit: 0 }));
    invalid(() => decodeListDeadLettersRequest({ dupid: "7" }));
    assert.deepEqual(decodeReplayDeadLettersRequest({ appId: 2, dupid: 7 }), {
      appId: 2,
      dupid: 7,
    });
    invalid(() => decodeReplayDeadLettersRequest({ appId: 2 }));
    invalid(() => decodeReplayDeadLettersRequest({ appId: -1, dupid: 7 }));
  });

  test("responses decode; a malformed one names the field", () => {
    const list = { node: N1, letters: [letter("1.0", 1)], counts: { letters: 1, entries: 3 } };
    assert.deepEqual(decodeListDeadLettersResponse(list), list);
    assert.throws(
      () =>
        decodeListDeadLettersResponse({ ...list, letters: [{ ...letter("1.0", 1), entries: -1 }] }),
      /letters\[0\]\.entries/,
    );
    const replay = {
      node: N1,
      replayedLetters: 1,
      replayedEntries: 2,
      supersededRecords: 3,
      failed: 0,
      notReplayable: 0,
    };
    assert.deepEqual(decodeReplayDeadLettersResponse(replay), replay);
    assert.throws(() => decodeReplayDeadLettersResponse({ ...replay, failed: null }), /failed/);
    assert.throws(
      () => decodeReplayDeadLettersResponse({ ...replay, supersededRecords: -1 }),
      /supersededRecords/,
    );
    // A server from before the field: none left out.
    const { supersededRecords: _, ...older } = replay;
    assert.deepEqual(decodeReplayDeadLettersResponse(older), { ...replay, supersededRecords: 0 });
  });
});
