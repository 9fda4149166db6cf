import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  alignedBuffers,
  DIRECT_ALIGNMENT,
  directAligned,
  openDirect,
} from "../../src/replica-server/follower/direct-writes.ts";

const dir = mkdtempSync(join(tmpdir(), "talaria-direct-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("follower copy: O_DIRECT writes", () => {
  it("carves aligned buffers that O_DIRECT writes accept, or says none where it is refused", async () => {
    const path = join(dir, "target");
    writeFileSync(path, "");
    const handle = await openDirect(path);
    const buffers = await alignedBuffers(dir, 3, 2 * DIRECT_ALIGNMENT);
    if (handle === undefined) {
      // A file system without O_DIRECT (tmpfs): the buffered path is kept.
      assert.equal(buffers, undefined);
      return;
    }
    try {
      assert.ok(buffers !== undefined, "this file system takes O_DIRECT, so a start is found");
      assert.equal(buffers.length, 3);
      for (const [i, buffer] of buffers.entries()) {
        assert.equal(buffer.length, 2 * DIRECT_ALIGNMENT);
        buffer.fill(65 + i);
        const written: { bytesWritten: number } = await handle.write(
          buffer,
          0,
          buffer.length,
          i * buffer.length,
        );
        assert.equal(written.bytesWritten, buffer.length);
      }
      // The buffers do not overlap: each block holds its own byte.
      const data = readFileSync(path);
      assert.equal(data.length, 6 * DIRECT_ALIGNMENT);
      for (let i = 0; i < 3; i++) assert.equal(data[i * 2 * DIRECT_ALIGNMENT + 5], 65 + i);
    } finally {
      await handle.close();
    }
    assert.equal(await alignedBuffers(dir, 2, DIRECT_ALIGNMENT + 512), undefined, "not a multiple");
  });

  it("only aligned offsets and lengths go direct", () => {
    assert.equal(directAligned(0, DIRECT_ALIGNMENT), true);
    assert.equal(directAligned(3 * DIRECT_ALIGNMENT, 1024 * DIRECT_ALIGNMENT), true);
    assert.equal(directAligned(512, DIRECT_ALIGNMENT), false);
    assert.equal(directAligned(0, DIRECT_ALIGNMENT + 1), false, "a last partial buffer");
    assert.equal(directAligned(0, 0), false);
  });
});
