import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { it } from "node:test";
import { defaultReadLimits, defaultWriteLimits, formatLimits } from "../../src/common/limits.ts";
import { metaStoreLimits } from "../../src/meta/store/index.ts";
import { defaultPrivateLogOptions } from "../../src/plog/index.ts";
import { defaultCoalesceLimits } from "../../src/replica/index.ts";
import { followerCopyDefaults } from "../../src/replica-server/follower/index.ts";
import { rpcDefaults } from "../../src/rpc/index.ts";

it("docs/limits.md lists every named limit", () => {
  const doc = readFileSync(new URL("../../docs/limits.md", import.meta.url), "utf8");
  const documented = new Set([...doc.matchAll(/^\| `([A-Za-z]+)` \|/gm)].map((m) => m[1]));
  const names = [
    ...Object.keys(formatLimits),
    ...Object.keys(defaultWriteLimits),
    ...Object.keys(defaultReadLimits),
    ...Object.keys(defaultPrivateLogOptions).filter((name) => name !== "fsync"),
    ...Object.keys(metaStoreLimits),
    ...Object.keys(rpcDefaults),
    ...Object.keys(followerCopyDefaults),
    ...Object.keys(defaultCoalesceLimits),
    "tombstoneRetentionSeconds",
    "sweepIntervalMs",
    "sweepBudget",
    "sweepBudgetRecordsMax",
    "sweepStepRecordsMax",
    "tombstoneHoldReleaseMs",
    "replayBatchBytes",
    "retentionMarksMax",
    "ackLagMarksMax",
  ];
  const missing = names.filter((name) => !documented.has(name));
  assert.deepEqual(missing, []);
});
