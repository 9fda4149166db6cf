/**
 * Every bound and timer of the replication core, with its default. Times are milliseconds of the
 * clock the runtime passes to `step` (virtual time in the simulator).
 */
export interface ReplicationOptions {
  /** Most uncommitted decrees a primary keeps in flight; later writes wait in the queue. */
  readonly prepareWindowMax: number;
  /** Most writes waiting for the window; beyond it a write is refused with ERR_BUSY. */
  readonly writeQueueMax: number;
  /** Most out-of-order prepares a secondary or learner keeps while waiting for the gap. */
  readonly prepareBufferMax: number;
  /** Most prepares resent to one peer per resend round. */
  readonly resendBatchMax: number;
  /** A peer that has not acked an outstanding prepare for this long gets it again. */
  readonly prepareResendIntervalMs: number;
  /** A secondary whose acks make no progress for this long is removed (after resends). */
  readonly prepareTimeoutMs: number;
  /** A secondary not heard from (any ack) for this long is removed. */
  readonly secondaryTimeoutMs: number;
  readonly groupCheckIntervalMs: number;
  /** A pending configuration change is asked for again after this long. */
  readonly configChangeRetryMs: number;
  /** Most learners one primary teaches at a time. */
  readonly learnersMax: number;
  /** A learner that does not ask or ack for this long is abandoned. */
  readonly learnerTimeoutMs: number;
  /** A learner asks again when its learn request got no answer for this long. */
  readonly learnRetryMs: number;
  /** Most mutation bytes one learn response carries (the runtime's log read is bounded by it). */
  readonly learnBatchBytesMax: number;
}

export const defaultReplicationOptions: ReplicationOptions = {
  prepareWindowMax: 256,
  writeQueueMax: 1024,
  prepareBufferMax: 256,
  resendBatchMax: 64,
  prepareResendIntervalMs: 1_000,
  prepareTimeoutMs: 5_000,
  secondaryTimeoutMs: 10_000,
  groupCheckIntervalMs: 1_000,
  configChangeRetryMs: 3_000,
  learnersMax: 4,
  learnerTimeoutMs: 30_000,
  learnRetryMs: 3_000,
  learnBatchBytesMax: 4 * 1024 * 1024,
};
