/** `talaria onebox` (`npm start`): local clusters as separate processes on 127.0.0.1. */
import { resolve } from "node:path";
import type { Command } from "commander";
import { startOnebox } from "../server/onebox.ts";
import { ONEBOX_REPLICAS_DEFAULT, planOnebox } from "../server/onebox-plan.ts";
import type { CliIo } from "./output.ts";

export function registerOneboxCommand(program: Command, io: CliIo): void {
  program
    .command("onebox")
    .description("start local clusters (one meta server and N replica servers each) until Ctrl-C")
    .option("--clusters <n>", "how many independent clusters (alpha, beta, gamma)", "1")
    .option("--replicas <n>", "replica servers per cluster", String(ONEBOX_REPLICAS_DEFAULT))
    .option(
      "--dir <dir>",
      "where configs, data and logs live; reusing it keeps the data",
      "./onebox",
    )
    .action(async (options: { clusters: string; replicas: string; dir: string }) => {
      const clusters = planOnebox({
        dir: resolve(options.dir),
        clusters: Number(options.clusters),
        replicas: Number(options.replicas),
      });
      io.stdout.write(`starting ${clusters.length} cluster(s) in ${resolve(options.dir)} …\n`);
      const onebox = await startOnebox(clusters, {
        onExit: (process, code, signal) =>
          io.stderr.write(
            `warning: ${process.cluster}/${process.name} exited (${signal ?? `code ${code}`}); see ${process.dir}/talaria.log\n`,
          ),
      });
      for (const cluster of clusters) {
        io.stdout.write(`\ncluster ${cluster.name} (duplication id ${cluster.clusterId})\n`);
        for (const p of cluster.processes) {
          io.stdout.write(
            `  ${p.name.padEnd(9)} rpc ${p.address.padEnd(16)} http http://127.0.0.1:${p.httpPort}  log ${p.dir}/talaria.log\n`,
          );
        }
      }
      const metas = clusters.map((c) => c.metaAddress).join(" ");
      io.stdout.write(
        `\nready. try:  talaria shell --meta ${clusters[0]?.metaAddress ?? ""}   (metas: ${metas})\nCtrl-C stops everything.\n`,
      );
      await new Promise<void>((resolvePromise) => {
        process.once("SIGINT", () => resolvePromise());
        process.once("SIGTERM", () => resolvePromise());
      });
      io.stdout.write("stopping …\n");
      await onebox.stop();
      io.stdout.write("stopped.\n");
    });
}
