import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { Command, CommanderError } from "commander";
import { runCli } from "../../src/cli/program.ts";
import { isTalariaError, TalariaError } from "../../src/common/index.ts";
import { registerShellCommand } from "../../src/shell/index.ts";
import { FakeBackend } from "./fake-backend.ts";
import { MemoryStream } from "./helpers.ts";

async function cli(...argv: string[]) {
  const stdout = new MemoryStream();
  const stderr = new MemoryStream();
  const code = await runCli(argv, { stdout, stderr });
  return { code, stdout, stderr };
}

/** A program with only `shell`, over a fake backend, parsed like runCli does. */
async function shellWithFake(backend: FakeBackend, ...argv: string[]) {
  const stdout = new MemoryStream();
  const stderr = new MemoryStream();
  const program = new Command("talaria")
    .configureOutput({ writeOut: (t) => stdout.write(t), writeErr: (t) => stderr.write(t) })
    .exitOverride();
  const metaLists: (readonly string[])[] = [];
  registerShellCommand(
    program,
    { stdout, stderr },
    {
      env: {},
      createBackend: (metaServers) => {
        metaLists.push(metaServers);
        return backend;
      },
    },
  );
  let error: unknown;
  try {
    await program.parseAsync(["shell", ...argv], { from: "user" });
  } catch (caught) {
    error = caught;
  }
  return { stdout, stderr, error, metaLists };
}

describe("talaria shell (runCli)", () => {
  test("-e help prints the command list and exits 0 without contacting the cluster", async () => {
    const { code, stdout, stderr } = await cli("shell", "--meta", "127.0.0.1:1", "-e", "help");
    assert.equal(code, 0, stderr.text);
    assert.equal(stdout.lines()[0], "Commands (help <command> for its flags):");
    assert.match(stdout.text, /\n {2}multi_get_range +read a sort-key range/);
    assert.equal(stderr.text, "");
  });

  test("wrong usage exits 2 with one error line naming the verb and its usage", async () => {
    const { code, stdout, stderr } = await cli(
      "shell",
      "--meta",
      "127.0.0.1:1",
      "-e",
      "help; set h s",
    );
    assert.equal(code, 2);
    assert.match(stdout.text, /^Commands/);
    assert.deepEqual(stderr.lines(), [
      "error: set: missing <value> (usage: set <hash_key> <sort_key> <value> [ttl_seconds])",
    ]);
  });

  test("an unknown verb exits 2 with a suggestion; no table selected exits 2", async () => {
    const unknown = await cli("shell", "--meta", "127.0.0.1:1", "-e", "mutli_get h");
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr.text, /unknown command "mutli_get"; did you mean "multi_get"\?/);
    const noTable = await cli("shell", "--meta", "127.0.0.1:1", "-e", "get h s");
    assert.equal(noTable.code, 2);
    assert.match(noTable.stderr.text, /^error: get: no table selected/);
  });

  test("a server error exits 1 with error: CODE: message", async () => {
    const { code, stderr } = await cli("shell", "--meta", "127.0.0.1:1", "-e", "ls");
    assert.equal(code, 1);
    assert.equal(stderr.lines().length, 1);
    assert.match(stderr.text, /^error: ERR_NETWORK_FAILURE: .*127\.0\.0\.1:1/);
  });

  test("--json: usage errors are JSON documents on stdout and exit 2", async () => {
    const { code, stdout, stderr } = await cli("shell", "--json", "-e", "get h");
    assert.equal(code, 2);
    assert.deepEqual(stdout.documents(), [
      {
        command: "get",
        ok: false,
        error: {
          code: "ERR_INVALID_PARAMETERS",
          message: "get: missing <sort_key> (usage: get <hash_key> <sort_key>)",
        },
      },
    ]);
    assert.equal(stderr.lines().length, 1);
  });

  test("a malformed --meta is a usage error", async () => {
    const { code, stderr } = await cli("shell", "--meta", "localhost", "-e", "help");
    assert.equal(code, 2);
    assert.match(stderr.text, /--meta: "localhost" is not host:port/);
  });

  test("-c resolves the meta servers from [pegasus.clusters] of --config", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "talaria-shell-"));
    try {
      const config = path.join(dir, "talaria.ini");
      await fs.writeFile(
        config,
        "[replication]\ncluster_name = local\n[duplication-group]\nlocal = 1\nremote = 2\n" +
          "[pegasus.clusters]\nremote = 127.0.0.1:1\n",
      );
      const ok = await cli("shell", "-c", "remote", "--config", config, "-e", "ls");
      assert.equal(ok.code, 1);
      assert.match(ok.stderr.text, /ERR_NETWORK_FAILURE: .*127\.0\.0\.1:1/);
      const unknown = await cli("shell", "-c", "remot", "--config", config, "-e", "ls");
      assert.equal(unknown.code, 2);
      assert.match(
        unknown.stderr.text,
        /error: unknown cluster "remot" in .*talaria\.ini \(known: local, remote\); did you mean "remote"\?/,
      );
      const badConfig = await cli("shell", "-c", "remote", "--config", path.join(dir, "none.ini"));
      assert.equal(badConfig.code, 1);
      assert.match(badConfig.stderr.text, /ERR_INVALID_CONFIG: cannot read configuration file/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe("talaria shell over a fake backend", () => {
  test("one-shot mode runs every command, then closes the backend", async () => {
    const backend = new FakeBackend();
    backend.addTable("temp");
    const { stdout, error, metaLists } = await shellWithFake(
      backend,
      "--meta",
      "10.0.0.1:34601,10.0.0.2:34601",
      "-e",
      "use temp\nset h s v; get h s",
    );
    assert.equal(error, undefined);
    assert.deepEqual(stdout.lines(), ['OK, using table "temp" (app_id=1)', "OK", "v"]);
    assert.deepEqual(metaLists, [["10.0.0.1:34601", "10.0.0.2:34601"]]);
    assert.equal(backend.closed, true);
  });

  test("without --meta or -c the default meta server is used", async () => {
    const { metaLists } = await shellWithFake(new FakeBackend(), "-e", "help");
    assert.deepEqual(metaLists, [["127.0.0.1:34601"]]);
  });

  test("a server error is thrown on to runCli unprinted, after closing the backend", async () => {
    const backend = new FakeBackend();
    backend.failNext = new TalariaError("ERR_APP_EXIST", "exists");
    const { stderr, error } = await shellWithFake(backend, "-e", "create t; ls");
    assert.ok(isTalariaError(error, "ERR_APP_EXIST"));
    assert.equal(stderr.text, "");
    assert.equal(backend.calls.length, 1, "ls must not run after the failure");
    assert.equal(backend.closed, true);
  });

  test("a usage error prints its line and ends as a CommanderError with exit code 2", async () => {
    const { stderr, error } = await shellWithFake(new FakeBackend(), "-e", "ls -a -a");
    assert.ok(error instanceof CommanderError);
    assert.equal(error.exitCode, 2);
    assert.deepEqual(stderr.lines(), ["error: ls: -a|--all given twice (usage: ls [-a|--all])"]);
  });
});
