/** The end-of-run checkers flag what they exist to flag (fabricated cluster states). */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { PartitionConfiguration } from "../../src/protocol/partition-config.ts";
import type { ReplicaCoreSnapshot } from "../../src/replication/index.ts";
import {
  type CheckedServer,
  checkAcknowledgedWrites,
  checkConvergence,
} from "../../src/sim/checker.ts";
import type { WriteRecord } from "../../src/sim/history.ts";
import type { StoredValue } from "../../src/sim/sim-disk.ts";

const gpid = { appId: 1, partitionIndex: 0 };
const config: PartitionConfiguration = {
  gpid,
  ballot: 3,
  primary: "a:1",
  secondaries: ["b:1", "c:1"],
  maxReplicaCount: 3,
  lastCommittedDecree: 0,
};

function server(
  status: "PRIMARY" | "SECONDARY",
  data: Record<string, StoredValue>,
  decree = 5,
): CheckedServer {
  const snapshot: ReplicaCoreSnapshot = {
    status,
    ballot: 3,
    primaryActive: status === "PRIMARY",
    lastCommittedDecree: decree,
    lastPreparedDecree: decree,
    lastDurableDecree: decree,
    lastAppliedDecree: decree,
  };
  const contents = new Map(Object.entries(data));
  return {
    replica: () => ({
      core: { snapshot: () => snapshot },
      disk: { get: (k) => contents.get(k), contents: () => contents },
    }),
  };
}

function acked(
  key: string,
  value: string,
  decree: number,
  sentAtMs: number,
  ackedAtMs: number,
): WriteRecord {
  return { id: decree, client: "c", key, value, gpid, firstSentAtMs: sentAtMs, ackedAtMs, decree };
}

const stored = { "u/1": { value: "x", decree: 2 }, "o/0": { value: "y2", decree: 4 } };
const healthy = new Map([
  ["a:1", server("PRIMARY", stored)],
  ["b:1", server("SECONDARY", stored)],
  ["c:1", server("SECONDARY", stored)],
]);

describe("sim checkers", () => {
  it("pass a converged cluster holding every acknowledged write", () => {
    assert.equal(checkConvergence([config], healthy), undefined);
    const writes = [
      acked("u/1", "x", 2, 0, 1),
      acked("o/0", "y1", 3, 2, 3),
      acked("o/0", "y2", 4, 4, 5),
    ];
    assert.equal(checkAcknowledgedWrites({ writes }, [config], healthy), undefined);
  });

  it("flag a lost or overwritten acknowledged write", () => {
    const lost = [acked("u/2", "z", 3, 0, 1)];
    assert.match(
      checkAcknowledgedWrites({ writes: lost }, [config], healthy) ?? "",
      /acknowledged write lost: u\/2/,
    );
    const older = [acked("o/0", "y3", 5, 0, 1)];
    assert.match(
      checkAcknowledgedWrites({ writes: older }, [config], healthy) ?? "",
      /holds decree 4/,
    );
  });

  it("flag acknowledged writes ordered against real time", () => {
    const writes = [acked("o/0", "y2", 4, 0, 1), acked("o/0", "y1", 3, 2, 3)];
    assert.match(
      checkAcknowledgedWrites({ writes }, [config], healthy) ?? "",
      /before y1 was sent/,
    );
  });

  it("flag diverged or lagging replicas and missing replicas", () => {
    const diverged = new Map(healthy);
    diverged.set("c:1", server("SECONDARY", { ...stored, "u/9": { value: "q", decree: 5 } }));
    assert.match(checkConvergence([config], diverged) ?? "", /c:1 differs/);
    const lagging = new Map(healthy);
    lagging.set("b:1", server("SECONDARY", stored, 4));
    assert.match(checkConvergence([config], lagging) ?? "", /b:1 at committed 4/);
    const shrunk = { ...config, secondaries: ["b:1"] };
    assert.match(checkConvergence([shrunk], healthy) ?? "", /2 of 3 replicas/);
  });
});
