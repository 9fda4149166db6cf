import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { UpdateKind } from "../../src/codec/index.ts";
import { PrivateLog } from "../../src/plog/index.ts";
import { cli, mutation, put, putRecords, snapshot, withTempDir, writeLog } from "./cli-helpers.ts";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

describe("talaria log dump", () => {
  test("smoke: bin/talaria as a child process prints one JSON object per record", async () => {
    await withTempDir(async (dir) => {
      await writeLog(dir, putRecords(1, 3));
      const result = spawnSync(process.execPath, ["bin/talaria", "log", "dump", dir, "--json"], {
        cwd: repoRoot,
        encoding: "utf8",
      });
      assert.equal(result.status, 0, result.stderr);
      assert.equal(result.stderr, "");
      const objects = result.stdout
        .trimEnd()
        .split("\n")
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      assert.deepEqual(
        objects.map((o) => o.decree),
        [1, 2, 3],
      );
      assert.deepEqual(objects[0], {
        decree: 1,
        ballot: 1,
        timestampUs: Date.UTC(2026, 10, 21, 14) * 1000,
        time: "2026-11-21T14:00:00.000000Z",
        updates: [{ kind: "PUT", hashKey: "user1", sortKey: "name", value: "value1", expireTs: 0 }],
      });
    });
  });

  test("human output: a header line, then one line per single-update mutation", async () => {
    await withTempDir(async (dir) => {
      await writeLog(dir, [
        { decree: 12, payload: mutation(1, [put("user1", "name", "alice")]) },
        {
          decree: 13,
          payload: { ...mutation(2, [{ kind: UpdateKind.EMPTY }], 2), decree: 13 },
        },
      ]);
      const { code, lines, stderr } = await cli("log", "dump", dir);
      assert.equal(code, 0, stderr);
      assert.deepEqual(lines, [
        `plog ${dir}: 1 segments, 2 records, decrees 12..13`,
        // The payload's own decree (1) differs from the record's (12): shown, not hidden.
        '#12 payloadDecree=1 ballot=1 2026-11-21T14:00:00.000000Z PUT h="user1" s="name" value(5B)="alice" expireTs=0',
        "#13 ballot=2 2026-11-21T14:00:00.001000Z EMPTY",
      ]);
    });
  });

  test("multi-update mutations, binary keys and duplicate entries render in both forms", async () => {
    await withTempDir(async (dir) => {
      const hashKey = Buffer.from([0x00, 0x01, 0xff]);
      await writeLog(dir, [
        {
          decree: 1,
          payload: mutation(1, [
            { kind: UpdateKind.REMOVE, hashKey, sortKey: Buffer.from("0x12") },
            {
              kind: UpdateKind.MULTI_PUT,
              hashKey: Buffer.from("u"),
              expireTs: 7,
              kvs: [
                { sortKey: Buffer.from("a"), value: Buffer.from("x") },
                { sortKey: Buffer.from("b"), value: Buffer.from("tab\there") },
              ],
            },
            {
              kind: UpdateKind.DUPLICATE,
              entries: [
                {
                  timestampUs: Date.UTC(2026, 0, 1) * 1000 + 5,
                  clusterId: 2,
                  update: {
                    kind: UpdateKind.MULTI_REMOVE,
                    hashKey: Buffer.from("k"),
                    sortKeys: [Buffer.from("é")],
                  },
                },
              ],
            },
          ]),
        },
      ]);
      const human = await cli("log", "dump", dir);
      assert.deepEqual(human.lines.slice(1), [
        "#1 ballot=1 2026-11-21T14:00:00.000000Z updates=3",
        "  REMOVE h=0x0001ff s=0x30783132",
        '  MULTI_PUT h="u" expireTs=7 kvs=2: s="a" value(1B)="x", s="b" value(8B)=0x7461620968657265',
        "  DUPLICATE entries=1",
        '    cluster=2 2026-01-01T00:00:00.000005Z MULTI_REMOVE h="k" sortKeys=1: "é"',
      ]);
      const json = await cli("log", "dump", dir, "--json");
      assert.equal(json.code, 0, json.stderr);
      assert.equal(json.lines.length, 1);
      const record = JSON.parse(json.lines[0] ?? "") as { updates: unknown };
      assert.deepEqual(record.updates, [
        { kind: "REMOVE", hashKey: "0x0001ff", sortKey: "0x30783132" },
        {
          kind: "MULTI_PUT",
          hashKey: "u",
          expireTs: 7,
          kvs: [
            { sortKey: "a", value: "x" },
            { sortKey: "b", value: "0x7461620968657265" },
          ],
        },
        {
          kind: "DUPLICATE",
          entries: [
            {
              timestampUs: Date.UTC(2026, 0, 1) * 1000 + 5,
              time: "2026-01-01T00:00:00.000005Z",
              clusterId: 2,
              update: { kind: "MULTI_REMOVE", hashKey: "k", sortKeys: ["é"] },
            },
          ],
        },
      ]);
    });
  });

  test("a re-sync's DUPLICATE says so in both forms", async () => {
    await withTempDir(async (dir) => {
      const entry = {
        timestampUs: Date.UTC(2026, 0, 1) * 1000,
        clusterId: 3,
        update: { kind: UpdateKind.REMOVE, hashKey: Buffer.from("k"), sortKey: Buffer.from("s") },
      } as const;
      await writeLog(dir, [
        {
          decree: 1,
          payload: mutation(1, [{ kind: UpdateKind.DUPLICATE, entries: [entry], resync: true }]),
        },
      ]);
      const human = await cli("log", "dump", dir);
      assert.equal(
        human.lines[1],
        "#1 ballot=1 2026-11-21T14:00:00.000000Z DUPLICATE resync entries=1",
      );
      const json = await cli("log", "dump", dir, "--json");
      const record = JSON.parse(json.lines[0] ?? "") as { updates: { resync?: boolean }[] };
      assert.equal(record.updates[0]?.resync, true);
    });
  });

  test("values are cut at 64 characters in human output, complete in JSON", async () => {
    await withTempDir(async (dir) => {
      const long = "v".repeat(100);
      const binary = Buffer.alloc(40, 0xab);
      await writeLog(dir, [
        { decree: 1, payload: mutation(1, [put("h", "s", long)]) },
        { decree: 2, payload: mutation(2, [put("h", "s", binary)]) },
      ]);
      const human = await cli("log", "dump", dir);
      assert.ok(human.lines[1]?.endsWith(`value(100B)="${"v".repeat(64)}"… expireTs=0`));
      assert.ok(human.lines[2]?.endsWith(`value(40B)=0x${"ab".repeat(32)}… expireTs=0`));
      const json = await cli("log", "dump", dir, "--json");
      const values = json.lines.map(
        (line) => (JSON.parse(line) as { updates: { value: string }[] }).updates[0]?.value,
      );
      assert.deepEqual(values, [long, `0x${"ab".repeat(40)}`]);
    });
  });

  test("--from and --limit select a window, and say where to continue", async () => {
    await withTempDir(async (dir) => {
      await writeLog(dir, putRecords(1, 10), 300);
      const { code, lines } = await cli("log", "dump", dir, "--from", "4", "--limit", "3");
      assert.equal(code, 0);
      assert.deepEqual(
        lines.slice(1, 4).map((line) => line.split(" ")[0]),
        ["#4", "#5", "#6"],
      );
      assert.equal(lines[4], "(stopped at --limit 3; continue with --from 7)");
      assert.equal(lines.length, 5);

      const json = await cli("log", "dump", dir, "--from", "8", "--limit", "3", "--json");
      assert.deepEqual(
        json.lines.map((line) => (JSON.parse(line) as { decree: number }).decree),
        [8, 9, 10],
      );
      assert.equal(json.stderr, "", "the log ends at the limit: nothing to continue");

      const past = await cli("log", "dump", dir, "--from", "11");
      assert.equal(past.code, 0);
      assert.equal(past.lines.length, 1, "only the header: nothing at or after decree 11");
      assert.match(past.lines[0] ?? "", /^plog .*: \d+ segments, 10 records, decrees 1\.\.10$/);
    });
  });

  test("a payload that is not a mutation prints its decree and error, and the dump goes on", async () => {
    await withTempDir(async (dir) => {
      await writeLog(dir, [
        { decree: 1, payload: mutation(1, [put("a", "b", "c")]) },
        { decree: 2, payload: Buffer.from([1, 0, 0]) },
        { decree: 3, payload: mutation(3, [{ kind: UpdateKind.EMPTY }]) },
      ]);
      const human = await cli("log", "dump", dir);
      assert.equal(human.code, 0);
      assert.match(human.lines[2] ?? "", /^#2 undecodable payload\(3B\): ERR_INVALID_DATA: /);
      assert.match(human.lines[3] ?? "", /^#3 ballot=1 .* EMPTY$/);
      const json = await cli("log", "dump", dir, "--json");
      const second = JSON.parse(json.lines[1] ?? "") as Record<string, unknown>;
      assert.equal(second.decree, 2);
      assert.equal(second.payloadBytes, 3);
      assert.equal((second.error as { code: string }).code, "ERR_INVALID_DATA");
      assert.equal(json.lines.length, 3);
    });
  });

  test("a torn tail is reported, the records before it shown, and the files left as they were", async () => {
    await withTempDir(async (dir) => {
      await writeLog(dir, putRecords(1, 5));
      const [file] = await fs.readdir(dir);
      assert.ok(file !== undefined);
      const filePath = path.join(dir, file);
      const { size } = await fs.stat(filePath);
      await fs.truncate(filePath, size - 5);
      const before = await snapshot(dir);

      const human = await cli("log", "dump", dir);
      assert.equal(human.code, 0);
      assert.match(
        human.lines[0] ?? "",
        new RegExp(
          `^plog .*: 1 segments, 4 records, decrees 1\\.\\.4; torn tail in ${file.replaceAll(".", "\\.")} at offset \\d+ \\(partial block body\\): \\d+ bytes after it not read; left in place, a writable open truncates them$`,
        ),
      );
      assert.deepEqual(
        human.lines.slice(1).map((line) => line.split(" ")[0]),
        ["#1", "#2", "#3", "#4"],
      );

      const json = await cli("log", "dump", dir, "--json");
      assert.equal(json.lines.length, 4);
      assert.match(json.stderr, /^warning: torn tail in /);

      const info = await cli("log", "info", dir, "--json");
      const summary = JSON.parse(info.stdout) as { tornTail: { file: string; bytes: number } };
      assert.equal(summary.tornTail.file, file);
      assert.ok(summary.tornTail.bytes > 0);

      assert.deepEqual(await snapshot(dir), before);
    });
  });

  test("an existing directory without segments dumps as an empty log", async () => {
    await withTempDir(async (dir) => {
      const { code, lines } = await cli("log", "dump", dir);
      assert.equal(code, 0);
      assert.deepEqual(lines, [`plog ${dir}: 0 segments, 0 records`]);
      // The replica directory instead of its plog/: the header says why nothing shows.
      await fs.mkdir(path.join(dir, "plog"));
      await fs.writeFile(path.join(dir, "meta.json"), "{}");
      const wrongDir = await cli("log", "dump", dir);
      assert.deepEqual(wrongDir.lines, [
        `plog ${dir}: 0 segments, 0 records, 2 non-segment files ignored`,
      ]);
    });
  });
});

describe("talaria log info", () => {
  test("lists every segment with its decrees, records and size", async () => {
    await withTempDir(async (dir) => {
      await writeLog(dir, putRecords(1, 10), 300);
      const files = (await fs.readdir(dir)).sort();
      assert.ok(files.length >= 3);
      const sizes = await Promise.all(
        files.map(async (f) => (await fs.stat(path.join(dir, f))).size),
      );

      const json = await cli("log", "info", dir, "--json");
      assert.equal(json.code, 0, json.stderr);
      const summary = JSON.parse(json.stdout) as {
        segments: {
          file: string;
          firstDecree: number;
          lastDecree: number;
          records: number;
          bytes: number;
        }[];
        records: number;
        firstDecree: number;
        lastDecree: number;
        bytes: number;
        tornTail: unknown;
      };
      assert.deepEqual(
        summary.segments.map((s) => s.file),
        files,
      );
      assert.deepEqual(
        summary.segments.map((s) => s.bytes),
        sizes,
      );
      assert.equal(summary.segments[0]?.firstDecree, 1);
      assert.equal(summary.segments.at(-1)?.lastDecree, 10);
      assert.equal(
        summary.segments.reduce((sum, s) => sum + s.records, 0),
        10,
      );
      assert.equal(summary.records, 10);
      assert.deepEqual([summary.firstDecree, summary.lastDecree], [1, 10]);
      assert.equal(
        summary.bytes,
        sizes.reduce((a, b) => a + b, 0),
      );
      assert.equal(summary.tornTail, null);

      const human = await cli("log", "info", dir);
      assert.equal(human.lines[0], `plog ${dir}`);
      assert.equal(human.lines[1], `segments: ${files.length}`);
      const first = summary.segments[0];
      assert.ok(first !== undefined);
      assert.match(
        human.lines[2] ?? "",
        new RegExp(
          `^  ${files[0]?.replaceAll(".", "\\.")}\\s+decrees 1\\.\\.${first.lastDecree}  records ${first.records}  ${first.bytes} B$`,
        ),
      );
      assert.equal(human.lines.at(-2), `total: 10 records, decrees 1..10, ${summary.bytes} B`);
      assert.equal(human.lines.at(-1), "torn tail: none");
    });
  });
});

describe("talaria log: bad arguments", () => {
  const firstLine = (text: string) => text.split("\n")[0];

  test("usage errors exit 2 with a one-line error", async () => {
    await withTempDir(async (dir) => {
      await writeLog(dir, putRecords(1, 2));
      const cases: [string[], RegExp][] = [
        [
          ["--from", "abc"],
          /^error: option '--from <decree>' argument 'abc' is invalid\. --from must be a decree/,
        ],
        [["--from", "1.5"], /--from must be a decree, an integer >= 1/],
        [["--from", "0"], /--from must be a decree, an integer >= 1/],
        [
          ["--limit", "-5"],
          /^error: option '--limit <n>' argument '-5' is invalid\. --limit must be an integer in \[1, 1000000\]/,
        ],
        [["--limit=-5"], /--limit must be an integer in \[1, 1000000\]/],
        [["--limit", "1000001"], /--limit must be an integer in \[1, 1000000\]/],
        [["--bogus"], /^error: unknown option '--bogus'/],
      ];
      for (const [extra, message] of cases) {
        const result = await cli("log", "dump", dir, ...extra);
        assert.equal(result.code, 2, extra.join(" "));
        assert.match(firstLine(result.stderr) ?? "", message);
        assert.equal(result.stdout, "");
      }
      const missing = await cli("log", "dump");
      assert.equal(missing.code, 2);
      assert.equal(firstLine(missing.stderr), "error: missing required argument 'dir'");
    });
  });

  test("operating errors exit 1: a missing directory, a garbage-collected decree", async () => {
    await withTempDir(async (dir) => {
      const missingDir = path.join(dir, "replica", "plog");
      for (const command of ["dump", "info"]) {
        const result = await cli("log", command, missingDir);
        assert.equal(result.code, 1);
        assert.equal(
          result.stderr,
          `error: ERR_OBJECT_NOT_FOUND: plog directory ${missingDir} does not exist\n`,
        );
      }
      assert.deepEqual(await fs.readdir(dir), [], "nothing was created");

      const plog = path.join(dir, "plog");
      await writeLog(plog, putRecords(1, 10), 300);
      const log = await PrivateLog.open({ dir: plog, fsync: false });
      await log.gc(5);
      const firstDecree = log.firstDecree;
      await log.close();
      assert.ok(firstDecree > 1);
      const result = await cli("log", "dump", plog, "--from", "1");
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^error: ERR_OBJECT_NOT_FOUND: decree 1 was garbage-collected/);
    });
  });
});
