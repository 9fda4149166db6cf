// Writes docs/config.md from the configuration schema (src/config). Run after changing a key:
//   node --import tsx scripts/gen-config-doc.ts
// test/config/doc.test.ts fails while the committed file differs from this output.
import { writeFileSync } from "node:fs";
import { renderConfigDoc } from "../src/config/index.ts";

const target = new URL("../docs/config.md", import.meta.url);
writeFileSync(target, renderConfigDoc());
console.log(`wrote ${target.pathname}`);
