/**
 * Assertions guard invariants. A failed assertion is a programmer error: it throws an
 * AssertionError that is never caught and handled as an operating error.
 */
export class AssertionError extends Error {
  override readonly name = "AssertionError";
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function unreachable(value: never, what: string): never {
  throw new AssertionError(`unreachable ${what}: ${String(value)}`);
}
