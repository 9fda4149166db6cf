/** The public TypeScript client. */
export { type Bytes, toBuffer } from "./bytes.ts";
export {
  CLIENT_TIMEOUT_MS_DEFAULT,
  type ClientOptions,
  createClient,
  TalariaClient,
} from "./client.ts";
export { MetaSession } from "./meta-session.ts";
export { Scanner, type ScanRange } from "./scanner.ts";
export {
  type CheckOptions,
  type CheckResult,
  type DuplicateOptions,
  type MultiGetOptions,
  type Mutation,
  type RangeOptions,
  type RequestOptions,
  Table,
  type WriteOptions,
} from "./table.ts";
