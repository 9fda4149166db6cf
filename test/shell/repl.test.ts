import assert from "node:assert/strict";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { PassThrough } from "node:stream";
import { describe, test } from "node:test";
import { HISTORY_LINES_MAX, runRepl, ShellSession } from "../../src/shell/index.ts";
import { FakeBackend } from "./fake-backend.ts";
import { MemoryStream } from "./helpers.ts";

function setup() {
  const backend = new FakeBackend();
  backend.addTable("temp");
  const stdout = new MemoryStream();
  const stderr = new MemoryStream();
  const session = new ShellSession({ backend, stdout, json: false, clusterLabel: "onebox" });
  return { backend, stdout, stderr, session };
}

async function withTempDir<T>(run: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "talaria-shell-"));
  try {
    return await run(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

describe("shell REPL", () => {
  test("runs lines in order, prompts with the table, keeps going after errors, stops at exit", async () => {
    const { stdout, stderr, session } = setup();
    const input = new PassThrough();
    const done = runRepl({ session, input, stdout, stderr, terminal: false, prompt: true });
    input.end("use temp\ngett a\nset a b c; get a b\nls -z\nexit\nget a b\n");
    await done;
    assert.equal(
      stdout.text,
      [
        "talaria(onebox)> ",
        'OK, using table "temp" (app_id=1)\n',
        "talaria(onebox)[temp]> ",
        "talaria(onebox)[temp]> ",
        "OK\nc\n",
        "talaria(onebox)[temp]> ",
        "talaria(onebox)[temp]> ",
      ].join(""),
    );
    assert.deepEqual(stderr.lines(), [
      'error: unknown command "gett"; did you mean "get"? (help lists the commands)',
      "error: ls: unknown flag -z (flags: -a --all) (usage: ls [-a|--all])",
    ]);
  });

  test("without a prompt (piped input) prints only answers; end of input ends the loop", async () => {
    const { stdout, stderr, session } = setup();
    const input = new PassThrough();
    const done = runRepl({ session, input, stdout, stderr, terminal: false });
    input.end("use temp\nincr h c 2");
    await done;
    assert.deepEqual(stdout.lines(), ['OK, using table "temp" (app_id=1)', "2"]);
    assert.equal(stderr.text, "");
  });

  test("on a terminal, history is loaded and saved, bounded to HISTORY_LINES_MAX", async () => {
    await withTempDir(async (dir) => {
      const historyPath = path.join(dir, "history");
      const old = Array.from({ length: HISTORY_LINES_MAX + 5 }, (_, i) => `get h${i} s`);
      await fs.writeFile(historyPath, `${old.join("\n")}\n`);
      const { stdout, stderr, session } = setup();
      const input = new PassThrough();
      const done = runRepl({ session, input, stdout, stderr, terminal: true, historyPath });
      input.write("use temp\r");
      input.write("ls\r");
      input.write("\x04"); // Ctrl-D
      await done;
      const saved = (await fs.readFile(historyPath, "utf8")).trimEnd().split("\n");
      assert.equal(saved.length, HISTORY_LINES_MAX);
      assert.deepEqual(saved.slice(-2), ["use temp", "ls"]);
      assert.equal(saved.at(-3), `get h${HISTORY_LINES_MAX + 4} s`);
      assert.match(stdout.text, /talaria\(onebox\)\[temp\]> /);
    });
  });

  test("a missing or unwritable history file does not stop the shell", async () => {
    await withTempDir(async (dir) => {
      const historyPath = path.join(dir, "no-such-dir", "history");
      const { stdout, stderr, session } = setup();
      const input = new PassThrough();
      const done = runRepl({ session, input, stdout, stderr, terminal: true, historyPath });
      input.write("use temp\r");
      input.write("\x04");
      await done;
      assert.match(stdout.text, /OK, using table "temp"/);
      await assert.rejects(fs.stat(historyPath));
    });
  });
});
