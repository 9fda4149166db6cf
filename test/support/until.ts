/**
 * Waits for asynchronous work a test started (a service's persist, a remote call in process) to
 * show: polls `check` every 2 ms, at most 2,000 times, then fails naming `what`. Simulated time
 * does not move while it waits; only I/O completes.
 */
import assert from "node:assert/strict";

export async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 2_000; i += 1) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  assert.fail(`timed out waiting for ${what}`);
}
