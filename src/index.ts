/**
 * The public face of the `talaria` package: the client and the types a client needs.
 * (Servers are started with the `talaria` command; see docs/.)
 */
export {
  type Bytes,
  type CheckOptions,
  type CheckResult,
  type ClientOptions,
  createClient,
  type MultiGetOptions,
  type Mutation,
  type RangeOptions,
  type RequestOptions,
  Scanner,
  type ScanRange,
  Table,
  TalariaClient,
  type WriteOptions,
} from "./client/index.ts";
export { type ErrorCode, errorCatalogue, isTalariaError, TalariaError } from "./common/errors.ts";
export { CheckType } from "./replica/check-type.ts";
export { FilterType, type KeyFilter, type KeyValue, type MultiGetResult } from "./storage/types.ts";
export { VERSION } from "./version.ts";
