/**
 * Metrics of the learner checkpoint copy inside one cluster (checkpoint-transfer.ts), per replica
 * server: bytes a learner received by transfer (`http`: the holder's HTTP bulk path, `chunk`: the
 * CHUNK RPC), HTTP streams that failed so the learn went on with CHUNK, and how the holder found
 * the file CRC32Cs of its FILES replies (its cache, see CheckpointSource).
 */
import { Counter, type Registry } from "prom-client";
import type { CrcOutcome } from "./checkpoint-transfer.ts";

export type LearnerTransfer = "http" | "chunk";

export class LearnerCheckpointMetrics {
  private readonly receivedBytes: Counter<"transfer">;
  private readonly httpFallbacks: Counter;
  private readonly fileCrcs: Counter<"outcome">;

  constructor(registry: Registry) {
    const registers = [registry];
    this.receivedBytes = new Counter({
      name: "talaria_replica_learner_checkpoint_bytes_total",
      help: "Learner checkpoint bytes received from the holding replica server, by transfer (http, chunk)",
      labelNames: ["transfer"],
      registers,
    });
    this.httpFallbacks = new Counter({
      name: "talaria_replica_learner_checkpoint_http_fallbacks_total",
      help: "Learner checkpoint files whose HTTP stream failed, the learn going on with CHUNK",
      registers,
    });
    this.fileCrcs = new Counter({
      name: "talaria_replica_learner_checkpoint_file_crcs_total",
      help: "File CRC32Cs this server put in FILES replies, by outcome (hit: cached, miss: summed and cached, small: summed, too small to cache)",
      labelNames: ["outcome"],
      registers,
    });
  }

  received(transfer: LearnerTransfer, bytes: number): void {
    if (bytes > 0) this.receivedBytes.inc({ transfer }, bytes);
  }

  fellBack(): void {
    this.httpFallbacks.inc();
  }

  fileCrc(outcome: CrcOutcome): void {
    this.fileCrcs.inc({ outcome });
  }
}
