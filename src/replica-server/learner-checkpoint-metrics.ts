/**
 * Metrics of the learner checkpoint copy inside one cluster (checkpoint-transfer.ts), per replica
 * server: bytes a learner received by transfer (`http`: the holder's HTTP bulk path, `chunk`: the
 * CHUNK RPC), and HTTP streams that failed so the learn went on with CHUNK.
 */
import { Counter, type Registry } from "prom-client";

export type LearnerTransfer = "http" | "chunk";

export class LearnerCheckpointMetrics {
  private readonly receivedBytes: Counter<"transfer">;
  private readonly httpFallbacks: Counter;

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
  }

  received(transfer: LearnerTransfer, bytes: number): void {
    if (bytes > 0) this.receivedBytes.inc({ transfer }, bytes);
  }

  fellBack(): void {
    this.httpFallbacks.inc();
  }
}
