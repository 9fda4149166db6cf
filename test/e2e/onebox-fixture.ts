import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RunningOnebox, startOnebox } from "../../src/server/onebox.ts";
import { type OneboxCluster, planOnebox } from "../../src/server/onebox-plan.ts";

export { throughProxy, withReplication } from "../../src/server/onebox-plan.ts";

import { portFree, randomOneboxBase } from "../support/ports.ts";

/** A base port whose whole onebox range is free now (random, so parallel runs rarely meet). */
async function freeBase(clusters: number, replicas: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = randomOneboxBase();
    const probe = planOnebox({ dir: "/unused", clusters, replicas, basePort: base });
    const ports = probe.flatMap((c) =>
      c.processes.flatMap((p) => [Number(p.address.split(":")[1]), p.httpPort]),
    );
    const free = await Promise.all(ports.map(portFree));
    if (free.every(Boolean)) return base;
  }
  throw new Error("no free port range for a onebox");
}

export interface E2eOnebox {
  readonly onebox: RunningOnebox;
  readonly clusters: readonly OneboxCluster[];
  readonly dir: string;
  close(): Promise<void>;
}

/**
 * A onebox of `clusters` clusters on a free port range, in a new temporary directory; `tweak`
 * may change the plan (configs) before it starts. `close()` stops it and deletes the directory,
 * unless TALARIA_E2E_KEEP is set (the processes' logs: <dir>/<cluster>/<process>/talaria.log).
 */
export async function startE2eOnebox(
  clusters = 1,
  replicas = 3,
  tweak: (plan: OneboxCluster[]) => OneboxCluster[] = (plan) => plan,
): Promise<E2eOnebox> {
  const dir = mkdtempSync(join(tmpdir(), "talaria-e2e-"));
  const plan = tweak(
    planOnebox({
      dir,
      clusters,
      replicas,
      basePort: await freeBase(clusters, replicas),
    }),
  );
  const onebox = await startOnebox(plan, {
    readyTimeoutMs: 60_000,
    onExit: (p, code, signal) => console.log(`# ${p.cluster}/${p.name} exited: ${code ?? signal}`),
  });
  return {
    onebox,
    clusters: plan,
    dir,
    async close() {
      await onebox.stop();
      if (process.env.TALARIA_E2E_KEEP === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}
