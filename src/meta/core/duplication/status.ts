/**
 * Duplication statuses as data: Pegasus's transition table (notes §2.2, `is_valid_alteration`)
 * and the two-phase alteration check (`alter_status`). Same-to-same is valid everywhere except
 * from DS_REMOVED, so `pause` on a paused duplication is a no-op, not an error.
 *
 * Talaria adds DS_LOG → DS_PREPARE and DS_PAUSE → DS_PREPARE: a full re-sync of an existing
 * duplication (`resync_duplication`) runs the full procedure again.
 *
 * Which transitions a user may ask for with `modify` is narrower (duplication-core.ts): DS_PREPARE
 * and DS_APP are the meta server's own steps of full duplication (entered by `add` with a
 * checkpoint or by a re-sync), and DS_INIT → DS_LOG is taken by the start-point protocol once
 * every partition has reported. A freezed duplication ends its DS_INIT or DS_APP in DS_PAUSE in
 * one step, which is the composition DS_INIT/DS_APP → DS_LOG → DS_PAUSE of the table.
 */
import { TalariaError } from "../../../common/errors.ts";
import { DuplicationFailMode, DuplicationStatus } from "../../../protocol/duplication-messages.ts";

const { DS_INIT, DS_PREPARE, DS_APP, DS_LOG, DS_PAUSE, DS_REMOVED } = DuplicationStatus;

/** from → the statuses it may move to (itself included). DS_REMOVED is final. */
export const duplicationTransitions: Readonly<
  Record<DuplicationStatus, readonly DuplicationStatus[]>
> = {
  [DS_INIT]: [DS_INIT, DS_PREPARE, DS_LOG, DS_REMOVED],
  [DS_PREPARE]: [DS_PREPARE, DS_APP, DS_REMOVED],
  [DS_APP]: [DS_APP, DS_LOG, DS_REMOVED],
  [DS_LOG]: [DS_LOG, DS_PREPARE, DS_PAUSE, DS_REMOVED],
  [DS_PAUSE]: [DS_PAUSE, DS_PREPARE, DS_LOG, DS_REMOVED],
  [DS_REMOVED]: [],
};

export const duplicationStatuses: readonly DuplicationStatus[] = Object.values(DuplicationStatus);
export const duplicationFailModes: readonly DuplicationFailMode[] =
  Object.values(DuplicationFailMode);

export function isValidTransition(from: DuplicationStatus, to: DuplicationStatus): boolean {
  return duplicationTransitions[from].includes(to);
}

export type AlterationCheck = { readonly change: false } | { readonly change: true };

/**
 * Checks an alteration of committed `(status, failMode)` to `(to, toFailMode)`, as Pegasus's
 * `alter_status` does: ERR_BUSY while another alteration is being persisted, ERR_OBJECT_NOT_FOUND
 * once removed, ERR_INVALID_PARAMETERS for a transition outside the table. No change is a no-op.
 */
export function checkAlteration(
  current: { readonly status: DuplicationStatus; readonly failMode: DuplicationFailMode },
  altering: boolean,
  to: DuplicationStatus,
  toFailMode: DuplicationFailMode,
): AlterationCheck {
  if (altering)
    throw new TalariaError("ERR_BUSY", "another change of this duplication is being persisted");
  if (current.status === DS_REMOVED)
    throw new TalariaError("ERR_OBJECT_NOT_FOUND", "the duplication is removed");
  if (!isValidTransition(current.status, to))
    throw new TalariaError(
      "ERR_INVALID_PARAMETERS",
      `a duplication in ${current.status} cannot move to ${to}`,
      { details: { from: current.status, to } },
    );
  return { change: current.status !== to || current.failMode !== toFailMode };
}
