import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { quoteText, TokenizeError, tokenize } from "../../src/shell/index.ts";

const texts = (input: string) => tokenize(input).map((command) => command.map((t) => t.text));

describe("shell tokenizer", () => {
  test("splits on whitespace, commands on ; and newlines, dropping empty commands", () => {
    assert.deepEqual(texts("  set  a b   c ;get a b\n\n ; ls -a  "), [
      ["set", "a", "b", "c"],
      ["get", "a", "b"],
      ["ls", "-a"],
    ]);
    assert.deepEqual(texts(""), []);
    assert.deepEqual(texts(" ; \n "), []);
  });

  test("double quotes keep spaces and ;, and take escapes; single quotes are literal", () => {
    assert.deepEqual(texts('set "a b" "x;y" \'c\\d "e"\''), [["set", "a b", "x;y", 'c\\d "e"']]);
    assert.deepEqual(texts('get "say \\"hi\\"" "back\\\\slash" "tab\\there"'), [
      ["get", 'say "hi"', "back\\slash", "tab\there"],
    ]);
  });

  test('"" is an empty token, and quoted parts join their neighbours', () => {
    const [command] = tokenize('get "" a"b c"d');
    assert.deepEqual(
      command?.map((t) => t.text),
      ["get", "", "ab cd"],
    );
    assert.equal(command?.[1]?.bytes.length, 0);
  });

  test("\\xHH makes any byte, also invalid UTF-8, inside and outside quotes", () => {
    const [command] = tokenize('set \\xff\\x00 "a\\x80b" \\x41');
    assert.deepEqual(command?.[1]?.bytes, Buffer.from([0xff, 0x00]));
    assert.deepEqual(command?.[2]?.bytes, Buffer.from([0x61, 0x80, 0x62]));
    assert.deepEqual(command?.[3]?.bytes, Buffer.from("A"));
  });

  test("backslash escapes a space or ; outside quotes", () => {
    assert.deepEqual(texts("set a\\ b c\\;d"), [["set", "a b", "c;d"]]);
  });

  test("non-ASCII text stays whole UTF-8, including characters outside the BMP", () => {
    const [command] = tokenize('set 键 "值😀"');
    assert.deepEqual(command?.[1]?.bytes, Buffer.from("键", "utf8"));
    assert.deepEqual(command?.[2]?.bytes, Buffer.from("值😀", "utf8"));
  });

  test("a quoted or escaped token is marked so it is never taken for a flag", () => {
    const [command] = tokenize('ls -a "-a" \\-a');
    assert.deepEqual(
      command?.map((t) => t.quoted),
      [false, false, true, true],
    );
  });

  test("unterminated quotes and bad escapes fail the whole input", () => {
    assert.throws(() => tokenize('ls; get "a b'), TokenizeError);
    assert.throws(() => tokenize("get 'a"), /unterminated ' quote/);
    assert.throws(() => tokenize("get \\q"), /unknown escape "\\q"/);
    assert.throws(() => tokenize('get "\\xZ1"'), /two hex digits/);
    assert.throws(() => tokenize("get a\\"), /backslash ends/);
  });

  test("quoteText reads back as the same single token", () => {
    for (const text of ["plain", "", "a b", 'q"uote', "back\\slash", "semi;colon", "it's"]) {
      const [command] = tokenize(`x ${quoteText(text)}`);
      assert.equal(command?.length, 2, text);
      assert.equal(command?.[1]?.text, text);
    }
    assert.equal(quoteText("plain"), "plain");
    assert.equal(quoteText("a b"), '"a b"');
  });
});
