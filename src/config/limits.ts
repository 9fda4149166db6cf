/** The storage limits a Config sets, in the shapes src/common/limits.ts defines. */
import type { ReadLimits, WriteLimits } from "../common/limits.ts";
import type { Config } from "./config-type.ts";

export function writeLimitsOf(config: Config): WriteLimits {
  return {
    writeBytesMax: config.replication.maxAllowedWriteSize,
    multiOpCountMax: config.pegasusServer.multiOpCountMax,
  };
}

export function readLimitsOf(config: Config): ReadLimits {
  const server = config.pegasusServer;
  return {
    multiGetKvCountMax: server.rocksdbMultiGetMaxIterationCount,
    readBytesMax: server.readBytesMax,
    scanBatchCountMax: server.scanBatchCountMax,
    scanIterationCountMax: server.scanIterationCountMax,
  };
}

/** The private log's in-memory tail, from `[replication] log_private_tail_cache_kb`. */
export function plogTailCacheBytesOf(config: Config): number {
  return config.replication.logPrivateTailCacheKb * 1024;
}

/** The private log's segment size, from `[replication] log_private_file_size_mb`. */
export function plogSegmentBytesMaxOf(config: Config): number {
  return config.replication.logPrivateFileSizeMb * 1024 * 1024;
}
