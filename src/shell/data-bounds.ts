/** Bounds the data verbs check before asking a server (which applies its own limits too). */

/** Longest TTL the shell sets: the stored expiry is 32-bit seconds. */
export const TTL_SECONDS_MAX = 2 ** 31 - 1;
/** Most records one multi_get_range asks for. */
export const MULTI_GET_COUNT_MAX = 100_000;
/** Most sort keys one multi_get / multi_del / multi_set names. */
export const MULTI_KEYS_MAX = 10_000;
