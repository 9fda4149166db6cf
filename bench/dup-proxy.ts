/**
 * The fault proxy of bench:dup, in a child process of its own (this file forks itself), so the
 * link's forwarding never waits for the bench's event loop, busy with a thousand writes in flight
 * and the lag probes. The parent drives it over the IPC channel: one request at a time, each
 * answered before the next.
 */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { FaultProxy, type FaultProxyCounters } from "../src/testing/index.ts";

type Command =
  | { readonly op: "delay"; readonly ms: number }
  | { readonly op: "cut" }
  | { readonly op: "heal" }
  | { readonly op: "counters" };

interface Reply {
  readonly ok: boolean;
  readonly port?: number;
  readonly counters?: FaultProxyCounters;
  readonly error?: string;
}

const START_TIMEOUT_MS = 30_000;
const COMMAND_TIMEOUT_MS = 10_000;

export class ProxyProcess {
  readonly port: number;
  private readonly child: ChildProcess;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(child: ChildProcess, port: number) {
    this.child = child;
    this.port = port;
  }

  static async start(): Promise<ProxyProcess> {
    const child = fork(fileURLToPath(import.meta.url), ["--child"], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error("the proxy process did not start")),
        START_TIMEOUT_MS,
      );
      child.once("message", (reply: Reply) => {
        clearTimeout(timer);
        if (reply.ok && reply.port !== undefined) resolve(reply.port);
        else reject(new Error(`the proxy process failed: ${reply.error}`));
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`the proxy process exited with ${code}`));
      });
    });
    return new ProxyProcess(child, port);
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  setDelay(ms: number): Promise<void> {
    return this.send({ op: "delay", ms }).then(() => undefined);
  }

  cut(): Promise<void> {
    return this.send({ op: "cut" }).then(() => undefined);
  }

  heal(): Promise<void> {
    return this.send({ op: "heal" }).then(() => undefined);
  }

  async counters(): Promise<FaultProxyCounters> {
    const reply = await this.send({ op: "counters" });
    if (reply.counters === undefined) throw new Error("no counters in the reply");
    return reply.counters;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }

  private send(command: Command): Promise<Reply> {
    const next = this.queue.then(
      () =>
        new Promise<Reply>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`proxy command ${command.op} not answered`)),
            COMMAND_TIMEOUT_MS,
          );
          this.child.once("message", (reply: Reply) => {
            clearTimeout(timer);
            if (reply.ok) resolve(reply);
            else reject(new Error(`proxy command ${command.op} failed: ${reply.error}`));
          });
          this.child.send(command);
        }),
    );
    this.queue = next.catch(() => undefined);
    return next;
  }
}

async function child(): Promise<void> {
  const send = (reply: Reply) => process.send?.(reply);
  const proxy = await FaultProxy.start();
  process.on("message", (command: Command) => {
    try {
      switch (command.op) {
        case "delay":
          proxy.setDelay(command.ms);
          send({ ok: true });
          return;
        case "cut":
          proxy.cut();
          send({ ok: true });
          return;
        case "heal":
          proxy.heal();
          send({ ok: true });
          return;
        case "counters":
          send({ ok: true, counters: proxy.counters() });
          return;
      }
    } catch (error) {
      send({ ok: false, error: String(error) });
    }
  });
  const stop = () => void proxy.close().finally(() => process.exit(0));
  process.once("SIGTERM", stop);
  // The parent died without stopping us: do not outlive it.
  process.once("disconnect", stop);
  send({ ok: true, port: proxy.port });
}

if (process.argv.includes("--child")) await child();
