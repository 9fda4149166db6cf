/**
 * The dead-letter store: where FAIL_SKIP puts what it gives up on — a DUPLICATE request the remote
 * kept refusing (with its entries and their timetags) or plog decrees that could not be read —
 * so skipping keeps data instead of dropping it. Letters are listed and replayed by the shell
 * (replay.ts); replaying is harmless whenever it happens, because the target applies duplicated
 * entries last-write-wins by their source timetag.
 *
 * The port, and an in-memory implementation (tests, simulator). file-dead-letter-store.ts keeps
 * letters under the replica's directory; test/duplication/dead-letter-store.test.ts runs the same
 * compliance suite against both.
 *
 * Contract: `append` resolves once the letter is durable, with an id larger than every id the
 * store handed out before; it refuses (ERR_LIMIT_EXCEEDED) past `lettersMax` letters — the
 * duplication then holds until letters are replayed or removed, rather than dropping anything.
 */
import { TalariaError } from "../../common/errors.ts";
import type { DeadLetterRecord } from "./events.ts";

export interface StoredDeadLetter extends DeadLetterRecord {
  readonly id: number;
  readonly dupid: number;
  /** Wall-clock time it was stored (ms since the epoch). */
  readonly createdAtMs: number;
}

export interface DeadLetterListOptions {
  /** Only this duplication's letters. */
  readonly dupid?: number;
  /** Letters with a larger id only (paging). */
  readonly afterId?: number;
  /** At most this many (default and cap DEAD_LETTER_LIST_MAX). */
  readonly limit?: number;
}

export interface DeadLetterCounts {
  readonly letters: number;
  readonly entries: number;
}

export interface DeadLetterStore {
  append(dupid: number, letter: DeadLetterRecord, createdAtMs: number): Promise<number>;
  /** Letters in id order. */
  list(options?: DeadLetterListOptions): Promise<StoredDeadLetter[]>;
  /** Removes a letter (after it was replayed); removing an unknown id does nothing. */
  remove(id: number): Promise<void>;
  counts(dupid?: number): DeadLetterCounts;
  close(): Promise<void>;
}

/** Most letters one list call returns. */
export const DEAD_LETTER_LIST_MAX = 1000;
/** Most letters one store keeps (default of `lettersMax`). */
export const DEAD_LETTERS_MAX = 100_000;

export function listLimit(options: DeadLetterListOptions): number {
  const limit = options.limit ?? DEAD_LETTER_LIST_MAX;
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new TalariaError("ERR_INVALID_PARAMETERS", `list limit ${limit} is not positive`);
  }
  return Math.min(limit, DEAD_LETTER_LIST_MAX);
}

export function checkRoom(held: number, lettersMax: number): void {
  if (held >= lettersMax) {
    throw new TalariaError(
      "ERR_LIMIT_EXCEEDED",
      `the dead-letter store holds ${held} letters, its lettersMax: replay or remove some`,
      { details: { limit: "lettersMax", value: held + 1, max: lettersMax } },
    );
  }
}

export class MemoryDeadLetterStore implements DeadLetterStore {
  private readonly letters = new Map<number, StoredDeadLetter>();
  private lastId = 0;

  constructor(private readonly lettersMax = DEAD_LETTERS_MAX) {}

  async append(dupid: number, letter: DeadLetterRecord, createdAtMs: number): Promise<number> {
    checkRoom(this.letters.size, this.lettersMax);
    const id = ++this.lastId;
    this.letters.set(id, { ...letter, entries: [...letter.entries], id, dupid, createdAtMs });
    return id;
  }

  async list(options: DeadLetterListOptions = {}): Promise<StoredDeadLetter[]> {
    const limit = listLimit(options);
    const out: StoredDeadLetter[] = [];
    for (const letter of this.letters.values()) {
      if (out.length >= limit) break;
      if (options.dupid !== undefined && letter.dupid !== options.dupid) continue;
      if (options.afterId !== undefined && letter.id <= options.afterId) continue;
      out.push(letter);
    }
    return out;
  }

  async remove(id: number): Promise<void> {
    this.letters.delete(id);
  }

  counts(dupid?: number): DeadLetterCounts {
    let letters = 0;
    let entries = 0;
    for (const letter of this.letters.values()) {
      if (dupid !== undefined && letter.dupid !== dupid) continue;
      letters++;
      entries += letter.entries.length;
    }
    return { letters, entries };
  }

  async close(): Promise<void> {}
}
