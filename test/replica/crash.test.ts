import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Replica } from "../../src/replica/replica.ts";
import { b, tempDir } from "./replica-fixture.ts";

const WRITER = fileURLToPath(new URL("./crash-writer.ts", import.meta.url));
const children: ChildProcess[] = [];
after(() => {
  for (const child of children) child.kill("SIGKILL");
});

/** Runs the writer until it has acknowledged `acks` writes, then kill -9; returns the acked ids. */
function writeThenKill(dir: string, acks: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", WRITER, dir], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    const acked: number[] = [];
    let pending = "";
    let stderr = "";
    const deadline = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`writer acknowledged only ${acked.length} writes in 60 s: ${stderr}`));
    }, 60_000);
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout.on("data", (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) acked.push(Number(line));
      if (acked.length >= acks && !child.killed) child.kill("SIGKILL");
    });
    child.on("exit", (_code, signal) => {
      clearTimeout(deadline);
      if (signal === "SIGKILL") resolve(acked);
      else reject(new Error(`writer exited by itself: ${stderr}`));
    });
  });
}

it("kill -9 under write load loses no acknowledged write, three crashes in a row", async () => {
  const dir = tempDir("talaria-crash-");
  const acked: number[] = [];
  for (let round = 0; round < 3; round++) acked.push(...(await writeThenKill(dir, 1500)));
  // Each round restarts the id sequence, so check the last round's writes exactly and the
  // counters across all rounds.
  const replica = await Replica.open({ dir, clusterId: 1, sweepIntervalMs: 0 });
  try {
    const lastRound = acked.slice(acked.lastIndexOf(0));
    for (const i of lastRound) {
      if (i % 10 === 9) continue;
      assert.equal(
        replica.reads.get(b(`h${i % 97}`), b(`s${i}`))?.value.toString(),
        `v${i}`,
        `write ${i}`,
      );
    }
    let counted = 0;
    for (let h = 0; h < 97; h++) {
      const counter = replica.reads.get(b(`h${h}`), b("counter"));
      counted += counter === undefined ? 0 : Number(counter.value.toString());
    }
    const ackedIncrs = acked.filter((i) => i % 10 === 9).length;
    assert.ok(
      counted >= ackedIncrs,
      `counters hold ${counted} increments, ${ackedIncrs} were acknowledged`,
    );
    await replica.write({
      op: "set",
      hashKey: b("after"),
      sortKey: b("crash"),
      value: b("ok"),
      expireTs: 0,
    });
  } finally {
    await replica.close();
  }
});
