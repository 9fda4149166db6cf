// Child process for embedded.test.ts: writes meta nodes with 8 in flight (alternating set and a
// two-op multi), printing each id once its write resolved, until it is killed.
import { EmbeddedMetaStore } from "../../../src/meta/store/index.ts";

const dir = process.argv[2];
if (dir === undefined) throw new Error("usage: crash-writer <dir>");
const store = await EmbeddedMetaStore.open({ dir });
let next = 0;
async function writer(): Promise<void> {
  for (;;) {
    const i = next++;
    const data = Buffer.from(`v${i}`);
    if (i % 2 === 0) await store.set(`/w/${i}`, data);
    else {
      await store.multi([
        { op: "create", path: `/w/${i}`, data },
        { op: "set", path: `/pair/${i}`, data },
      ]);
    }
    process.stdout.write(`${i}\n`);
  }
}
await Promise.all(Array.from({ length: 8 }, writer));
