/**
 * Settings of the private log. Every bound the plog keeps is named here, one line each with its
 * default and why it exists: the settings in PrivateLogOptions, and the fixed bounds below them
 * (constants, not settings, because changing them changes the format or buys nothing).
 */
import { TalariaError } from "../common/errors.ts";
import { type Logger, silentLogger } from "../common/logger.ts";
import { BLOCK_BODY_BYTES_MAX, RECORD_HEADER_BYTES } from "./format.ts";

export interface PrivateLogOptions {
  /** Directory holding this replica's segments; created if missing (unless readOnly). */
  readonly dir: string;
  /**
   * Open for inspection only (false): nothing on disk changes. The directory must exist
   * (ERR_OBJECT_NOT_FOUND otherwise), files are opened read-only, and a torn tail or an empty last
   * segment is reported in openReport but left in place; reads stop before the bad point.
   * append and gc are refused with ERR_INVALID_STATE. Safe to point at a live replica's log,
   * though a flush in progress there may then show up as a torn tail.
   */
  readonly readOnly?: boolean;
  /** A segment rolls over when the next block would take it past this (32 MiB). */
  readonly segmentBytesMax?: number;
  /** Most record bytes one flush (one write + one fdatasync) takes from the queue (4 MiB). */
  readonly groupCommitBytesMax?: number;
  /** Most record bytes queued or in flight; appends past it wait for a flush (16 MiB). */
  readonly pendingBytesMax?: number;
  /** Most appends waiting for room under pendingBytesMax; one more is refused ERR_BUSY (10,000). */
  readonly blockedAppendsMax?: number;
  /** Largest payload one append accepts (16 MiB); bounds the largest block a reader loads. */
  readonly payloadBytesMax?: number;
  /** One seek point per this many segment bytes (64 KiB): seek cost vs. index memory. */
  readonly indexIntervalBytes?: number;
  /**
   * Newest record bytes kept in memory for readers of the tail (1 MiB; 0 = none): a duplication
   * shipper reading what was just committed then reads no file (tail-cache.ts).
   */
  readonly tailCacheBytes?: number;
  /** fdatasync after each flush; only tests turn it off. */
  readonly fsync?: boolean;
  readonly logger?: Logger;
}

export interface ResolvedPrivateLogOptions {
  readonly dir: string;
  readonly segmentBytesMax: number;
  readonly groupCommitBytesMax: number;
  readonly pendingBytesMax: number;
  readonly blockedAppendsMax: number;
  readonly payloadBytesMax: number;
  readonly indexIntervalBytes: number;
  readonly tailCacheBytes: number;
  readonly fsync: boolean;
  readonly readOnly: boolean;
  readonly logger: Logger;
}

const MiB = 1024 * 1024;

/*
 * Fixed bounds, not settings:
 * - SCAN_CHUNK_BYTES (1 MiB, below): bytes per read of recovery's forward scan for a valid block;
 * - BLOCK_BODY_BYTES_MAX (4 GiB - 1, format.ts): the u32 body length; caps groupCommitBytesMax;
 * - decrees < 2^53 (safe integers) and segment sequences < 2^32: the format's integer widths.
 */

/** Bytes recovery's forward scan (torn tail vs. corruption) reads per step (1 MiB). */
export const SCAN_CHUNK_BYTES = MiB;

export const defaultPrivateLogOptions = {
  segmentBytesMax: 32 * MiB,
  groupCommitBytesMax: 4 * MiB,
  pendingBytesMax: 16 * MiB,
  blockedAppendsMax: 10_000,
  payloadBytesMax: 16 * MiB,
  indexIntervalBytes: 64 * 1024,
  tailCacheBytes: MiB,
  fsync: true,
} as const;

function positiveInteger(name: string, value: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new TalariaError("ERR_INVALID_PARAMETERS", `${name} must be an integer in [1, ${max}]`, {
      details: { option: name, value },
    });
  }
  return value;
}

export function resolveOptions(options: PrivateLogOptions): ResolvedPrivateLogOptions {
  if (typeof options.dir !== "string" || options.dir.length === 0) {
    throw new TalariaError("ERR_INVALID_PARAMETERS", "dir must be a non-empty path");
  }
  const d = defaultPrivateLogOptions;
  return {
    dir: options.dir,
    segmentBytesMax: positiveInteger(
      "segmentBytesMax",
      options.segmentBytesMax ?? d.segmentBytesMax,
      Number.MAX_SAFE_INTEGER,
    ),
    groupCommitBytesMax: positiveInteger(
      "groupCommitBytesMax",
      options.groupCommitBytesMax ?? d.groupCommitBytesMax,
      BLOCK_BODY_BYTES_MAX,
    ),
    pendingBytesMax: positiveInteger(
      "pendingBytesMax",
      options.pendingBytesMax ?? d.pendingBytesMax,
      Number.MAX_SAFE_INTEGER,
    ),
    blockedAppendsMax: positiveInteger(
      "blockedAppendsMax",
      options.blockedAppendsMax ?? d.blockedAppendsMax,
      Number.MAX_SAFE_INTEGER,
    ),
    payloadBytesMax: positiveInteger(
      "payloadBytesMax",
      options.payloadBytesMax ?? d.payloadBytesMax,
      BLOCK_BODY_BYTES_MAX - RECORD_HEADER_BYTES,
    ),
    indexIntervalBytes: positiveInteger(
      "indexIntervalBytes",
      options.indexIntervalBytes ?? d.indexIntervalBytes,
      Number.MAX_SAFE_INTEGER,
    ),
    tailCacheBytes:
      options.tailCacheBytes === 0
        ? 0
        : positiveInteger(
            "tailCacheBytes",
            options.tailCacheBytes ?? d.tailCacheBytes,
            Number.MAX_SAFE_INTEGER,
          ),
    fsync: options.fsync ?? d.fsync,
    readOnly: options.readOnly ?? false,
    logger: options.logger ?? silentLogger,
  };
}
