/**
 * Replays simulation seeds: `node --import tsx src/sim/cli.ts --seed N [--steps M] [--verbose]`
 * (`npm run sim -- --seed N`). `--steps` is the length of the faulty phase in simulated
 * milliseconds; `--seeds K` runs seeds N..N+K-1; `--meta simple` uses the in-sim stand-in instead
 * of the real meta core. Exits 1 on the first failure, printing its seed.
 */
import { parseArgs } from "node:util";
import { runSimulation, type SimMetaKind } from "./simulation.ts";

const { values } = parseArgs({
  options: {
    seed: { type: "string", default: "1" },
    seeds: { type: "string", default: "1" },
    steps: { type: "string" },
    quiet: { type: "string" },
    meta: { type: "string", default: "core" },
    verbose: { type: "boolean", default: false },
  },
});

if (values.meta !== "core" && values.meta !== "simple") {
  console.error(`--meta must be core or simple, not ${values.meta}`);
  process.exit(2);
}
const meta: SimMetaKind = values.meta;

const first = Number(values.seed);
const count = Number(values.seeds);
const started = performance.now();
for (let seed = first; seed < first + count; seed++) {
  const result = runSimulation({
    seed,
    meta,
    ...(values.steps === undefined ? {} : { activeMs: Number(values.steps) }),
    ...(values.quiet === undefined ? {} : { quietMs: Number(values.quiet) }),
    ...(values.verbose ? { log: (line: string) => console.log(line) } : {}),
  });
  if (!result.ok) {
    console.error(`FAIL seed=${seed}: ${result.failure}`);
    const flags = `${meta === "core" ? "" : ` --meta ${meta}`}${values.steps === undefined ? "" : ` --steps ${values.steps}`}${values.quiet === undefined ? "" : ` --quiet ${values.quiet}`}`;
    console.error(`replay: npm run sim -- --seed ${seed}${flags} --verbose`);
    process.exit(1);
  }
  console.log(`ok seed=${seed} ${JSON.stringify(result.stats)}`);
}
console.log(`${count} seed(s) passed in ${Math.round(performance.now() - started)} ms`);
