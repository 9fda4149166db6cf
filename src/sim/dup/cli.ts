/**
 * Replays multi-cluster duplication simulation seeds:
 * `node --import tsx src/sim/dup/cli.ts --seed N [--seeds K] [--clusters 2|3] [--verbose]`
 * (`npm run sim:dup -- --seed N`). `--bug drop-trailing-batch | last-entry-routing |
 * resync-drops-deletes | no-tombstone-hold | replay-everything | own-holds-only |
 * count-resync-bytes` turns on a harness bug the checkers must catch. Exits 1 on the first
 * failure, printing its seed.
 */
import { parseArgs } from "node:util";
import { type DupBugs, runDupSimulation } from "./index.ts";

const { values } = parseArgs({
  options: {
    seed: { type: "string", default: "1" },
    seeds: { type: "string", default: "1" },
    clusters: { type: "string" },
    active: { type: "string" },
    bug: { type: "string" },
    verbose: { type: "boolean", default: false },
  },
});

const bugs: Record<string, DupBugs> = {
  "drop-trailing-batch": { dropTrailingBatch: true },
  "last-entry-routing": { lastEntryRouting: true },
  "resync-drops-deletes": { resyncDropsDeletes: true },
  "no-tombstone-hold": { noTombstoneHold: true },
  "replay-everything": { replayEverything: true },
  "own-holds-only": { ownHoldsOnly: true },
  "count-resync-bytes": { countResyncBytes: true },
  "no-resync-mark": { noResyncMark: true },
};
if (values.bug !== undefined && bugs[values.bug] === undefined) {
  console.error(`--bug must be one of ${Object.keys(bugs).join(", ")}`);
  process.exit(2);
}

const first = Number(values.seed);
const count = Number(values.seeds);
const started = performance.now();
for (let seed = first; seed < first + count; seed++) {
  const result = runDupSimulation({
    seed,
    ...(values.clusters === undefined ? {} : { clusters: Number(values.clusters) }),
    ...(values.active === undefined ? {} : { activeMs: Number(values.active) }),
    ...(values.bug === undefined ? {} : { bugs: bugs[values.bug] as DupBugs }),
    ...(values.verbose ? { log: (line: string) => console.log(line) } : {}),
  });
  if (!result.ok) {
    console.error(`FAIL seed=${seed}: ${result.failure}`);
    const flags = `${values.clusters === undefined ? "" : ` --clusters ${values.clusters}`}${values.active === undefined ? "" : ` --active ${values.active}`}${values.bug === undefined ? "" : ` --bug ${values.bug}`}`;
    console.error(`replay: npm run sim:dup -- --seed ${seed}${flags} --verbose`);
    process.exit(1);
  }
  console.log(`ok seed=${seed} ${JSON.stringify(result.stats)}`);
}
console.log(`${count} seed(s) passed in ${Math.round(performance.now() - started)} ms`);
