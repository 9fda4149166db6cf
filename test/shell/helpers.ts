/** In-memory output streams and a session over the fake backend. */
import { Writable } from "node:stream";
import type { PhaseProgressFactory, ProgressFactory } from "../../src/shell/index.ts";
import { ShellSession } from "../../src/shell/index.ts";
import { FakeBackend } from "./fake-backend.ts";

export class MemoryStream extends Writable {
  text = "";
  isTTY: boolean | undefined;

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.text += chunk.toString("utf8");
    callback();
  }

  lines(): string[] {
    return this.text === "" ? [] : this.text.replace(/\n$/, "").split("\n");
  }

  /** Every line parsed as JSON. */
  documents(): Record<string, unknown>[] {
    return this.lines().map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  clear(): void {
    this.text = "";
  }
}

export interface Harness {
  readonly backend: FakeBackend;
  readonly stdout: MemoryStream;
  readonly session: ShellSession;
}

export function harness(
  options: {
    json?: boolean;
    progress?: ProgressFactory;
    phaseProgress?: PhaseProgressFactory;
    /** How polling verbs wait; the default fails the test (set one where a verb polls). */
    sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
    clusterLabel?: string;
  } = {},
): Harness {
  const backend = new FakeBackend();
  const stdout = new MemoryStream();
  const session = new ShellSession({
    backend,
    stdout,
    json: options.json ?? false,
    clusterLabel: options.clusterLabel ?? "onebox",
    ...(options.progress === undefined ? {} : { progress: options.progress }),
    ...(options.phaseProgress === undefined ? {} : { phaseProgress: options.phaseProgress }),
    sleep:
      options.sleep ??
      (() => Promise.reject(new Error("this test gave no sleep: a verb polled unexpectedly"))),
  });
  return { backend, stdout, session };
}
