/**
 * What the simulated clients write: keys every cluster writes (`shared-*`) and keys only one
 * cluster writes (`c<id>-*`), with puts, deletes, multi-puts, multi-deletes and — like an atomic
 * operation's logged result — mutations of several updates to one hash key, the same record
 * possibly twice (put then delete, delete then put), whose order only the source's order decides.
 */
import { type Update, UpdateKind } from "../../codec/mutation.ts";
import type { Prng } from "../prng.ts";

export interface ClientWrite {
  readonly hashKey: string;
  /** Whether only this cluster writes `hashKey`. */
  readonly own: boolean;
  readonly updates: readonly Update[];
  /** The visible result per sort key, in order (undefined = deleted). */
  readonly written: readonly (readonly [string, string | undefined])[];
}

const SORT_KEYS = ["a", "b", "c"];

function oneUpdate(rng: Prng, hk: Buffer, value: string): [Update, [string, string | undefined][]] {
  const roll = rng.float();
  if (roll < 0.6) {
    const sortKey = rng.pick(SORT_KEYS);
    return [
      {
        kind: UpdateKind.PUT,
        hashKey: hk,
        sortKey: Buffer.from(sortKey),
        value: Buffer.from(value),
        expireTs: 0,
      },
      [[sortKey, value]],
    ];
  }
  if (roll < 0.75) {
    const sortKey = rng.pick(SORT_KEYS);
    return [
      { kind: UpdateKind.REMOVE, hashKey: hk, sortKey: Buffer.from(sortKey) },
      [[sortKey, undefined]],
    ];
  }
  if (roll < 0.9) {
    const keys = SORT_KEYS.filter(() => rng.chance(0.6));
    if (keys.length === 0) keys.push("a");
    return [
      {
        kind: UpdateKind.MULTI_PUT,
        hashKey: hk,
        kvs: keys.map((k) => ({ sortKey: Buffer.from(k), value: Buffer.from(`${value}/${k}`) })),
        expireTs: 0,
      },
      keys.map((k) => [k, `${value}/${k}`]),
    ];
  }
  const keys = SORT_KEYS.filter(() => rng.chance(0.5));
  if (keys.length === 0) keys.push("b");
  return [
    { kind: UpdateKind.MULTI_REMOVE, hashKey: hk, sortKeys: keys.map((k) => Buffer.from(k)) },
    keys.map((k) => [k, undefined]),
  ];
}

export function randomWrite(rng: Prng, clusterId: number, nowMs: number): ClientWrite {
  const own = rng.chance(0.5);
  const hashKey = own ? `c${clusterId}-${rng.int(0, 15)}` : `shared-${rng.int(0, 9)}`;
  const hk = Buffer.from(hashKey);
  const count = rng.chance(0.15) ? rng.int(2, 3) : 1;
  const updates: Update[] = [];
  const written: [string, string | undefined][] = [];
  for (let i = 0; i < count; i++) {
    const [update, effect] = oneUpdate(rng, hk, `${clusterId}:${nowMs}:${rng.int(0, 999)}.${i}`);
    updates.push(update);
    written.push(...effect);
  }
  return { hashKey, own, updates, written };
}
