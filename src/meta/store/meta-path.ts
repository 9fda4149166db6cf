/**
 * Meta-store paths: `/` or `/seg/seg/...`. Segments are non-empty, not `.` or `..`, and free of the
 * characters ZooKeeper refuses (NUL, control characters, surrogates and private-use code points,
 * U+FFF0..U+FFFF), so one path means the same node in the embedded store and in ZooKeeper. The
 * embedded store relies on the absence of NUL: it is its key separator (embedded-store.ts).
 */
import { checkLimit, TalariaError } from "../../common/errors.ts";
import { metaStoreLimits } from "./meta-store.ts";

export const ROOT_PATH = "/";

// ZooKeeper's PathUtils.validatePath rejects exactly these ranges (plus NUL).
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are the point
const FORBIDDEN_CHARS = /[\u0000-\u001f\u007f-\u009f\ud800-\uf8ff\ufff0-\uffff]/;

function invalid(path: string, reason: string): TalariaError {
  return new TalariaError(
    "ERR_INVALID_PARAMETERS",
    `invalid meta path ${JSON.stringify(path)}: ${reason}`,
    {
      details: { path },
    },
  );
}

/** Throws ERR_INVALID_PARAMETERS unless `path` is a valid path (the root included). */
export function checkPath(path: unknown): asserts path is string {
  if (typeof path !== "string") throw invalid(String(path), "not a string");
  if (!path.startsWith("/")) throw invalid(path, "not absolute");
  checkLimit(
    "metaPathBytesMax",
    Buffer.byteLength(path),
    metaStoreLimits.metaPathBytesMax,
    "meta path bytes",
  );
  if (path === ROOT_PATH) return;
  if (path.endsWith("/")) throw invalid(path, "trailing slash");
  for (const segment of path.slice(1).split("/")) {
    if (segment === "") throw invalid(path, "empty segment");
    if (segment === "." || segment === "..") throw invalid(path, `segment ${segment}`);
    if (FORBIDDEN_CHARS.test(segment)) throw invalid(path, "forbidden character");
  }
}

/** Like checkPath, but the root is refused too: it cannot be created, set or deleted. */
export function checkNodePath(path: unknown): asserts path is string {
  checkPath(path);
  if (path === ROOT_PATH) throw invalid(path, "the root cannot be written");
}

/** Parent of a valid non-root path (`/` for a top-level node). */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash === 0 ? ROOT_PATH : path.slice(0, slash);
}

/** Last segment of a valid non-root path. */
export function nameOf(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** Proper ancestors of a valid path, top-down, without the root: `/a/b/c` → `/a`, `/a/b`. */
export function ancestorsOf(path: string): string[] {
  const out: string[] = [];
  for (let slash = path.indexOf("/", 1); slash !== -1; slash = path.indexOf("/", slash + 1)) {
    out.push(path.slice(0, slash));
  }
  return out;
}

export function joinPath(parent: string, name: string): string {
  return parent === ROOT_PATH ? `/${name}` : `${parent}/${name}`;
}

/** Order of `children()`: by UTF-8 bytes, the order lmdb keeps keys in. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Throws ERR_INVALID_PARAMETERS unless `data` is a Buffer within metaValueBytesMax. */
export function checkValue(path: string, data: unknown): asserts data is Buffer {
  if (!Buffer.isBuffer(data)) {
    throw new TalariaError("ERR_INVALID_PARAMETERS", `value for ${path} is not a Buffer`, {
      details: { path },
    });
  }
  checkLimit(
    "metaValueBytesMax",
    data.length,
    metaStoreLimits.metaValueBytesMax,
    `value bytes of ${path}`,
  );
}
