import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isTalariaError } from "../../src/common/errors.ts";
import {
  APP_ENV_VALUE_CHARS_MAX,
  appEnvCatalogue,
  parseDefaultTtl,
  parseDenyClientRequest,
  parseThrottling,
  perPartitionUnits,
  RESYNC_MARK_ENV_PREFIX,
  resyncMarks,
  validateAppEnv,
} from "../../src/config/index.ts";

function assertInvalid(fn: () => unknown, message: RegExp, env?: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(isTalariaError(error, "ERR_INVALID_PARAMETERS"), String(error));
    assert.match(error.message, message);
    if (env !== undefined) assert.equal(error.details.env, env);
    return true;
  });
}

describe("replica.deny_client_request", () => {
  it("parses <mode>*<ops>", () => {
    assert.deepEqual(parseDenyClientRequest("timeout*write"), { mode: "timeout", ops: "write" });
    assert.deepEqual(parseDenyClientRequest("reconfig*all"), { mode: "reconfig", ops: "all" });
    assert.deepEqual(parseDenyClientRequest(" timeout * read "), { mode: "timeout", ops: "read" });
  });

  it("refuses anything else", () => {
    for (const value of [
      "",
      "timeout",
      "timeout*",
      "*write",
      "drop*write",
      "timeout*delete",
      "timeout*write*all",
      "Timeout*write",
    ]) {
      assertInvalid(
        () => parseDenyClientRequest(value),
        /app env replica\.deny_client_request = ".*": expected <timeout\|reconfig>\*<all\|write\|read>/,
        "replica.deny_client_request",
      );
    }
  });
});

describe("throttling envs", () => {
  it("parses delay and reject rules, each optional, in either order", () => {
    assert.deepEqual(parseThrottling("30000*delay*100,40000*reject*200"), {
      delay: { units: 30_000, ms: 100 },
      reject: { units: 40_000, ms: 200 },
    });
    assert.deepEqual(parseThrottling("40000*reject*200, 30000*delay*100"), {
      delay: { units: 30_000, ms: 100 },
      reject: { units: 40_000, ms: 200 },
    });
    assert.deepEqual(parseThrottling("100*delay*0"), { delay: { units: 100, ms: 0 } });
    assert.deepEqual(parseThrottling("0*reject*5"), { reject: { units: 0, ms: 5 } });
  });

  it("K and M multiply by 1000 and 1000000, as Pegasus's parser does", () => {
    assert.deepEqual(parseThrottling("20K*delay*10,3M*reject*20"), {
      delay: { units: 20_000, ms: 10 },
      reject: { units: 3_000_000, ms: 20 },
    });
  });

  it("refuses malformed values with a clear reason", () => {
    const cases: [string, RegExp][] = [
      ["", /should not be empty/],
      ["  ", /should not be empty/],
      ["100*delay*10,", /has an empty item/],
      ["100*delay", /should have 3 fields/],
      ["100*delay*10*5", /should have 3 fields/],
      ["-1*delay*10", /units "-1" should be a non-negative integer/],
      ["1.5K*delay*10", /units "1.5K"/],
      ["10k*delay*10", /units "10k"/],
      ["K*delay*10", /units "K"/],
      ["100*wait*10", /"wait" should be "delay" or "reject"/],
      ["100*delay*-5", /milliseconds "-5" should be a non-negative integer/],
      ["100*delay*1s", /milliseconds "1s"/],
      ["100*delay*10,200*delay*20", /has two delay rules/],
      ["100*reject*10,200*reject*20", /has two reject rules/],
      ["99999999999999999999*delay*1", /units/],
    ];
    for (const [value, message] of cases) {
      assertInvalid(
        () => parseThrottling(value, "replica.write_throttling_by_size"),
        message,
        "replica.write_throttling_by_size",
      );
    }
  });

  it("splits a table threshold over partitions as units / count + 1", () => {
    assert.equal(perPartitionUnits(30_000, 64), 469);
    assert.equal(perPartitionUnits(40_000, 64), 626);
    assert.equal(perPartitionUnits(0, 8), 1);
  });
});

describe("default_ttl", () => {
  it("is a non-negative 32-bit number of seconds", () => {
    assert.equal(parseDefaultTtl("0"), 0);
    assert.equal(parseDefaultTtl("86400"), 86_400);
    assert.equal(parseDefaultTtl("2147483647"), 2_147_483_647);
    for (const value of ["", "-1", "1d", "2147483648", "1.5"])
      assertInvalid(() => parseDefaultTtl(value), /default_ttl/, "default_ttl");
  });
});

describe("validateAppEnv", () => {
  it("accepts every catalogued env's example", () => {
    for (const [key, spec] of Object.entries(appEnvCatalogue)) validateAppEnv(key, spec.example);
  });

  it("validates known envs with their parsers", () => {
    assertInvalid(
      () => validateAppEnv("replica.write_throttling", "fast"),
      /replica\.write_throttling = "fast"/,
    );
    assertInvalid(
      () => validateAppEnv("replica.deny_client_request", "all"),
      /deny_client_request/,
    );
    assertInvalid(() => validateAppEnv("duplication.master_metas", ""), /must not be empty/);
    assertInvalid(
      () => validateAppEnv("duplication.follower_app_status", "done"),
      /"creating" or "created"/,
    );
    assertInvalid(() => validateAppEnv("duplication.master_cluster", "1dc"), /not a cluster name/);
  });

  it("validates a re-sync's mark: a cluster after the prefix, a duplication id as the value", () => {
    validateAppEnv(`${RESYNC_MARK_ENV_PREFIX}dc1`, "1767323045");
    validateAppEnv(`${RESYNC_MARK_ENV_PREFIX}dc-2_b`, "2147483647");
    for (const [key, value, message] of [
      [`${RESYNC_MARK_ENV_PREFIX}`, "1", /the key must be duplication\.resync_from\.<cluster>/],
      [`${RESYNC_MARK_ENV_PREFIX}1dc`, "1", /the key must be/],
      [`${RESYNC_MARK_ENV_PREFIX}dc1`, "0", /is not a duplication id/],
      [`${RESYNC_MARK_ENV_PREFIX}dc1`, "2147483648", /is not a duplication id/],
      [`${RESYNC_MARK_ENV_PREFIX}dc1`, "x", /is not a duplication id/],
    ] as const)
      assertInvalid(() => validateAppEnv(key, value), message);
    assert.deepEqual(
      resyncMarks({
        [`${RESYNC_MARK_ENV_PREFIX}dc3`]: "7",
        default_ttl: "0",
        [`${RESYNC_MARK_ENV_PREFIX}dc1`]: "5",
      }),
      ["dc1", "dc3"],
    );
    assert.deepEqual(resyncMarks({}), []);
  });

  it("refuses unknown keys under replica. and duplication., and typos of known keys", () => {
    assertInvalid(
      () => validateAppEnv("replica.deny_client_requests", "timeout*write"),
      /unknown app env \(did you mean replica\.deny_client_request\?\)/,
    );
    assertInvalid(
      () => validateAppEnv("replica.slow_query_threshold", "100"),
      /unknown app env; the known replica\.\* envs are replica\.deny_client_request, replica\.write_throttling/,
    );
    assertInvalid(
      () => validateAppEnv("duplication.foo", "x"),
      /the known duplication\.\* envs are/,
    );
    assertInvalid(() => validateAppEnv("default_tll", "10"), /did you mean default_ttl\?/);
    // Not a catalogue entry, even though every object has a "constructor".
    validateAppEnv("constructor", "x");
    assertInvalid(() => validateAppEnv("replica.constructor", "x"), /unknown app env/);
  });

  it("stores any other key as an opaque string, within bounds", () => {
    validateAppEnv("rocksdb.usage_scenario", "bulk_load");
    validateAppEnv("manual_compact.once.trigger_time", "1700000000");
    validateAppEnv("team.owner", "storage@example.com");
    validateAppEnv("team.notes", "x".repeat(APP_ENV_VALUE_CHARS_MAX));
    assertInvalid(
      () => validateAppEnv("team.notes", "x".repeat(APP_ENV_VALUE_CHARS_MAX + 1)),
      /longer than 65536/,
    );
    assertInvalid(() => validateAppEnv("", "x"), /the key must be/);
    assertInvalid(() => validateAppEnv("a key", "x"), /the key must be/);
    assertInvalid(() => validateAppEnv("k".repeat(257), "x"), /the key must be 1\.\.256/);
  });
});
