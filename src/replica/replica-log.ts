/**
 * The slice of the private log a partition replica drives: PrivateLog implements it; tests may
 * wrap it to inject faults or hold durability back.
 *
 * Contract the runtime relies on (see src/plog/private-log.ts):
 *  - append / truncateAfter / resetTo take effect in call order; each promise resolves once that
 *    operation, and every earlier one, is durable. truncateAfter(d) removes every record above d
 *    and the next append may be d + 1; resetTo(d) leaves an empty log whose next append is d + 1.
 *  - read / replay return durable records only; read throws ERR_OBJECT_NOT_FOUND for a decree
 *    below firstDecree (garbage-collected or before a reset).
 */
import type {
  GcResult,
  LogRecord,
  PrivateLogStats,
  ReadOptions,
  ReplayOptions,
} from "../plog/index.ts";

export interface ReplicaLog {
  readonly lastDecree: number;
  readonly durableDecree: number;
  readonly firstDecree: number;
  readonly stats: Readonly<PrivateLogStats>;
  append(decree: number, payload: Buffer): Promise<void>;
  truncateAfter(decree: number): Promise<void>;
  resetTo(decree: number): Promise<void>;
  read(fromDecree: number, options: ReadOptions): Promise<LogRecord[]>;
  replay(fromDecree: number, options: ReplayOptions): AsyncGenerator<LogRecord>;
  gc(belowDecree: number): Promise<GcResult>;
  /** Durable bytes held from `decree` on, to within a seek interval (duplication's retention). */
  bytesFrom(decree: number): number;
  close(): Promise<void>;
}
