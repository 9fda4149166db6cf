// End-to-end duplication over a faulty link: two real clusters (alpha → beta, child processes),
// alpha's replica servers configured with `[duplication-proxy] beta = <fault proxy>`, so every
// DUPLICATE request and every call to beta's meta server crosses the proxy. The link is cut for
// 10 s under write load (FAIL_SLOW: nothing may be lost, the backlog must rise and fall back to
// 0), then run with a 30 ms one-way delay and a bandwidth limit, which must still converge.
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import { createClient, type TalariaClient } from "../../src/client/index.ts";
import {
  type AddDuplicationResponse,
  DuplicationMethod,
  type QueryDuplicationResponse,
} from "../../src/protocol/duplication-messages.ts";
import { MetaMethod } from "../../src/protocol/index.ts";
import type { OneboxCluster } from "../../src/server/onebox-plan.ts";
import { FaultProxy } from "../../src/testing/index.ts";
import { allHealthy, eventually } from "../server/cluster-support.ts";
import { type E2eOnebox, startE2eOnebox, throughProxy } from "./onebox-fixture.ts";

const TABLE = "link";
const CUT_MS = 10_000;
const WRITERS = 4;

let box: E2eOnebox;
let clusters: readonly OneboxCluster[];
let proxy: FaultProxy;
let alpha: TalariaClient;
let beta: TalariaClient;
let dupid: number;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function cluster(name: string): OneboxCluster {
  const found = clusters.find((c) => c.name === name);
  assert.ok(found !== undefined, `no cluster ${name}`);
  return found;
}

/** Σ of `talaria_dup_backlog_mutations` of the duplication over alpha's replica servers. */
async function backlog(): Promise<{ total: number; series: number }> {
  let total = 0;
  let series = 0;
  for (const server of cluster("alpha").processes.filter((p) => p.role === "replica")) {
    const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
    for (const line of text.split("\n")) {
      if (!line.startsWith("talaria_dup_backlog_mutations{")) continue;
      if (!line.includes(`dupid="${dupid}"`)) continue;
      total += Number(line.slice(line.lastIndexOf(" ") + 1));
      series++;
    }
  }
  return { total, series };
}

/** Gauge `name` of the duplication on every alpha replica server, by `gpid`. */
async function gauges(name: string): Promise<Map<string, number>> {
  const values = new Map<string, number>();
  for (const server of cluster("alpha").processes.filter((p) => p.role === "replica")) {
    const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
    for (const line of text.split("\n")) {
      if (!line.startsWith(`${name}{`) || !line.includes(`dupid="${dupid}"`)) continue;
      const gpid = /gpid="([^"]+)"/.exec(line)?.[1] ?? "";
      values.set(`${server.name}/${gpid}`, Number(line.slice(line.lastIndexOf(" ") + 1)));
    }
  }
  return values;
}

/**
 * Observations of histogram `name` at or under `le` seconds, over a cluster's replica servers;
 * undefined when no server has that bucket (nothing observed yet, or no such bound).
 */
async function countAtMost(
  clusterName: string,
  name: string,
  le: string,
): Promise<number | undefined> {
  let count: number | undefined;
  for (const server of cluster(clusterName).processes.filter((p) => p.role === "replica")) {
    const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
    for (const line of text.split("\n")) {
      if (line.startsWith(`${name}_bucket{`) && line.includes(`le="${le}"`)) {
        count = (count ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1));
      }
    }
  }
  return count;
}

interface Acked {
  readonly n: number;
  /** performance.now() when the write was sent, and when its acknowledgement arrived. */
  readonly sentAtMs: number;
  readonly ackedAtMs: number;
}

/** Loads still running: after() stops them, so a failed test does not leave writers looping. */
const running = new Set<{ stop(): Promise<Acked[]> }>();

/** `WRITERS` loops writing `<prefix>-<n>` → `v<n>` on alpha until stopped; the acknowledged ones. */
function writeLoad(prefix: string): { acked: Acked[]; stop(): Promise<Acked[]> } {
  const acked: Acked[] = [];
  let next = 0;
  let writing = true;
  const writers = Array.from({ length: WRITERS }, async () => {
    while (writing) {
      const n = next++;
      const sentAtMs = performance.now();
      try {
        await alpha.table(TABLE).set(`${prefix}-${n}`, "s", `v${n}`, { timeoutMs: 15_000 });
        acked.push({ n, sentAtMs, ackedAtMs: performance.now() });
      } catch {
        // not acknowledged: may or may not be there
      }
    }
  });
  const load = {
    acked,
    async stop() {
      writing = false;
      await Promise.all(writers);
      running.delete(load);
      return acked;
    },
  };
  running.add(load);
  return load;
}

/** Waits until beta has every acknowledged write of `prefix`; fails listing some missing ones. */
async function assertAllOnBeta(prefix: string, acked: readonly Acked[]): Promise<void> {
  let missing: number[] = [];
  await eventually(`every acknowledged ${prefix} write on beta`, 60_000, async () => {
    const present = new Map<string, string>();
    for await (const kv of beta.table(TABLE).scan({ batchSize: 1000 }))
      present.set(kv.hashKey.toString(), kv.value.toString());
    missing = acked.filter(({ n }) => present.get(`${prefix}-${n}`) !== `v${n}`).map((a) => a.n);
    return missing.length === 0;
  }).catch((error: unknown) => {
    throw new Error(`${String(error)}: ${missing.length} missing, e.g. ${missing.slice(0, 20)}`);
  });
}

before(async () => {
  proxy = await FaultProxy.start();
  // Alpha's meta server persists confirmed decrees every second (default 5 s), so the backlog
  // reaches 0 soon after the last write ships.
  box = await startE2eOnebox(2, 3, (plan) =>
    throughProxy(plan, "alpha", "beta", proxy.address, { dupProgressMinUpdatePeriodMs: 1000 }),
  );
  clusters = box.clusters;
  alpha = createClient({ metaServers: [cluster("alpha").metaAddress], timeoutMs: 20_000 });
  beta = createClient({ metaServers: [cluster("beta").metaAddress], timeoutMs: 20_000 });
  await alpha.metaSession.call(
    MetaMethod.CREATE_APP,
    { appName: TABLE, partitionCount: 4, replicaCount: 3 },
    10_000,
  );
  await beta.metaSession.call(
    MetaMethod.CREATE_APP,
    { appName: TABLE, partitionCount: 3, replicaCount: 3 },
    10_000,
  );
  await eventually("alpha healthy", 30_000, allHealthy(alpha));
  await eventually("beta healthy", 30_000, allHealthy(beta));
  const added = (await alpha.metaSession.call(
    DuplicationMethod.ADD,
    { appName: TABLE, remoteClusterName: "beta" },
    60_000,
  )) as AddDuplicationResponse;
  assert.equal(added.status, "DS_LOG");
  dupid = added.dupid;
});
after(async () => {
  for (const load of [...running]) await load.stop();
  await alpha?.close();
  await beta?.close();
  await box?.close(); // TALARIA_E2E_KEEP=1 keeps the processes' logs
  await proxy?.close();
});

it("a 10 s link cut under write load: the backlog rises, then every acknowledged write arrives and it falls to 0", async (t) => {
  const load = writeLoad("cut");
  let peak = 0;
  let acked: Acked[] = [];
  try {
    // Every source primary runs a shipper (each appears at its server's next duplication sync).
    await eventually("shipping through the proxy from every source partition", 60_000, async () => {
      const shipping = load.acked.length > 50 && proxy.counters().forwardedBytes.upstream > 10_000;
      return shipping && (await backlog()).series >= 4;
    });
    const before = await backlog();

    proxy.cut();
    const cutAtMs = performance.now();
    const forwardedAtCut = proxy.counters().forwardedBytes;
    const during: number[] = [];
    while (performance.now() - cutAtMs < CUT_MS) {
      await sleep(1000);
      during.push((await backlog()).total);
    }
    const peakAtMs = performance.now();
    peak = (await backlog()).total;
    // Writes sent after the cut have decrees no shipper could have shipped: all are backlog once
    // the shippers have seen them committed (their tick is 100 ms; 1 s of margin).
    const sentInCut = load.acked.filter(
      (a) => a.sentAtMs > cutAtMs && a.ackedAtMs < peakAtMs - 1000,
    ).length;
    assert.deepEqual(proxy.counters().forwardedBytes, forwardedAtCut, "nothing crossed the cut");
    t.diagnostic(
      `backlog before ${before.total}, during the cut ${during.join(" ")}, at heal ${peak}; ${sentInCut} writes acknowledged during the cut`,
    );
    assert.ok(sentInCut > 20, `only ${sentInCut} writes acknowledged during the cut`);
    assert.ok(
      peak >= sentInCut,
      `backlog ${peak} at the heal, ${sentInCut} written during the cut`,
    );
    assert.ok(peak > before.total, "the backlog rose");

    proxy.heal();
    await sleep(3000);
  } finally {
    // Also when an assertion failed: the next test needs a healed link and no writers.
    proxy.heal();
    acked = await load.stop();
  }
  assert.ok(proxy.counters().severed >= 1, "the cut connections were severed at the heal");
  await assertAllOnBeta("cut", acked);
  let last = peak;
  await eventually("the backlog back to 0", 30_000, async () => {
    last = (await backlog()).total;
    return last === 0;
  }).catch((error: unknown) => {
    throw new Error(`${String(error)}: backlog ${last}`);
  });
  t.diagnostic(`${acked.length} writes, proxy ${JSON.stringify(proxy.counters())}`);
});

it("a 30 ms one-way delay and a 256 KB/s bandwidth limit: every write arrives, none sooner than the delay", async (t) => {
  proxy.setDelay(30);
  proxy.setBandwidth(256 * 1024);
  // Entries applied from now on crossed the delayed link: none may show a lag under 20 ms on
  // the target; on the source, no request or mutation may be acknowledged within 50 ms (a round
  // trip is 60). Counts that do not move while others grow: the +Inf buckets must grow.
  const fast = () =>
    Promise.all([
      countAtMost("beta", "talaria_dup_time_lag_seconds", "0.02"),
      countAtMost("alpha", "talaria_dup_ship_seconds", "0.05"),
      countAtMost("alpha", "talaria_dup_commit_to_ack_seconds", "0.05"),
    ]);
  const all = () =>
    Promise.all(
      [
        ["beta", "talaria_dup_time_lag_seconds"],
        ["alpha", "talaria_dup_ship_seconds"],
        ["alpha", "talaria_dup_commit_to_ack_seconds"],
      ].map(([c, name]) => countAtMost(c as string, name as string, "+Inf")),
    );
  const fastBefore = await fast();
  const allBefore = await all();
  const load = writeLoad("slow");
  let acked: Acked[] = [];
  try {
    await sleep(8000);
  } finally {
    acked = await load.stop();
  }
  assert.ok(acked.length > 50, `only ${acked.length} writes acknowledged`);
  await assertAllOnBeta("slow", acked);
  await eventually("the backlog back to 0", 30_000, async () => (await backlog()).total === 0);
  const fastAfter = await fast();
  const allAfter = await all();
  t.diagnostic(`observations ${allBefore.join("/")} → ${allAfter.join("/")}`);
  for (const [i, what] of ["target lag", "source round trip", "source commit → ack"].entries()) {
    assert.ok((allAfter[i] ?? 0) > (allBefore[i] ?? 0), `${what}: nothing observed`);
  }
  assert.ok(
    fastAfter.every((count) => count !== undefined),
    "the bounds compared are buckets of the histograms",
  );
  assert.deepEqual(
    fastAfter,
    fastBefore.map((count) => count ?? 0),
    "nothing faster than the link's delay allows",
  );
  // Both clusters read one machine's clock: every shipper's reading of beta's clock must contain
  // 0 (offset within its uncertainty, at least the delay), and none may flag a skew.
  const offsets = await gauges("talaria_dup_remote_clock_offset_seconds");
  const uncertainties = await gauges("talaria_dup_remote_clock_uncertainty_seconds");
  const exceeded = await gauges("talaria_dup_clock_skew_exceeded");
  t.diagnostic(
    `remote clock offsets ${JSON.stringify([...offsets])} ± ${JSON.stringify([...uncertainties])}`,
  );
  assert.ok(offsets.size >= 4, `remote clock read by ${offsets.size} shippers`);
  for (const [series, offset] of offsets) {
    const uncertainty = uncertainties.get(series) ?? Number.NaN;
    assert.ok(uncertainty >= 0.03, `${series}: ± ${uncertainty} s under a 30 ms delay`);
    assert.ok(Math.abs(offset) <= uncertainty + 0.001, `${series}: ${offset} ± ${uncertainty} s`);
    assert.equal(exceeded.get(series), 0, `${series}: skew flagged`);
  }
  // The primaries' syncs carry their readings to alpha's meta server: query_dup shows them.
  await eventually("every partition's remote clock in query_dup", 15_000, async () => {
    const answer = (await alpha.metaSession.call(
      DuplicationMethod.QUERY,
      { appName: TABLE },
      10_000,
    )) as QueryDuplicationResponse;
    const states = answer.duplications.find((d) => d.dupid === dupid)?.partitionStates ?? [];
    return (
      states.length > 0 &&
      states.every((s) => s.remoteClock !== undefined && !s.remoteClock.skewExceeded)
    );
  });
  t.diagnostic(`${acked.length} writes, proxy ${JSON.stringify(proxy.counters())}`);
});
