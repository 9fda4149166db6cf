/**
 * One call to each of several replica servers, a bounded number at once. A node's operating
 * error (TalariaError: unreachable, timeout, a method it does not serve, a malformed answer) is
 * that node's outcome, not the command's: the others still answer. Anything else is a bug and
 * propagates.
 */
import { isTalariaError, type TalariaError } from "../common/index.ts";
import { InterruptedError } from "./verb-spec.ts";

/** Replica servers one command calls at once. */
export const NODE_CALLS_IN_FLIGHT_MAX = 16;

export type NodeOutcome<T> =
  | { readonly node: string; readonly ok: true; readonly value: T }
  | { readonly node: string; readonly ok: false; readonly error: TalariaError };

/** Calls `call` for every node, at most `inFlightMax` at once; outcomes in the order of `nodes`. */
export async function callEachNode<T>(
  nodes: readonly string[],
  call: (node: string) => Promise<T>,
  signal: AbortSignal,
  inFlightMax = NODE_CALLS_IN_FLIGHT_MAX,
): Promise<NodeOutcome<T>[]> {
  const outcomes: NodeOutcome<T>[] = new Array(nodes.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < nodes.length; i = next++) {
      if (signal.aborted) throw new InterruptedError("interrupted");
      const node = nodes[i] as string;
      try {
        outcomes[i] = { node, ok: true, value: await call(node) };
      } catch (error) {
        if (!isTalariaError(error)) throw error;
        outcomes[i] = { node, ok: false, error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlightMax, nodes.length) }, worker));
  return outcomes;
}
