// Child process for crash.test.ts: writes keys with 32 in flight, printing each key once its write
// is acknowledged (durable in the plog and applied), until it is killed.
import { Replica } from "../../src/replica/replica.ts";

const dir = process.argv[2];
if (dir === undefined) throw new Error("usage: crash-writer <dir>");
const replica = await Replica.open({ dir, clusterId: 1, sweepIntervalMs: 0 });
let next = 0;
async function writer(): Promise<void> {
  for (;;) {
    const i = next++;
    await replica.write({
      op: i % 10 === 9 ? "incr" : "set",
      hashKey: Buffer.from(`h${i % 97}`),
      sortKey: Buffer.from(i % 10 === 9 ? "counter" : `s${i}`),
      value: Buffer.from(`v${i}`),
      increment: 1n,
      expireTs: 0,
    } as Parameters<Replica["write"]>[0]);
    process.stdout.write(`${i}\n`);
  }
}
await Promise.all(Array.from({ length: 32 }, writer));
