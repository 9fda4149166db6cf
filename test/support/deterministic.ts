// Loaded before every test file (scripts/run-tests.mjs): property tests use a fixed seed so a run
// is reproducible. FC_SEED=<n> runs another seed; FC_SEED=random explores (fast-check prints the
// seed and path of any failure to replay).
import fc from "fast-check";

const requested = process.env.FC_SEED;
if (requested !== "random") {
  const seed = requested === undefined ? 0x7a1a_2026 : Number(requested);
  if (!Number.isSafeInteger(seed))
    throw new Error(`FC_SEED must be an integer or "random", got ${requested}`);
  fc.configureGlobal({ seed });
}
