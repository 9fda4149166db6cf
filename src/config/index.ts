/**
 * The configuration layer's public face: an ini file with Pegasus's section names, every key
 * declared once in schema.ts and validated strictly, plus the table-level app envs.
 */
export {
  APP_ENV_KEY_CHARS_MAX,
  APP_ENV_VALUE_CHARS_MAX,
  type AppEnvSpec,
  appEnvCatalogue,
  appEnvFamilies,
  DEFAULT_TTL_SECONDS_MAX,
  type DenyClientMode,
  type DenyClientOps,
  type DenyClientRequest,
  parseDefaultTtl,
  parseDenyClientRequest,
  parseThrottling,
  perPartitionUnits,
  RESERVED_APP_ENV_PREFIXES,
  RESYNC_MARK_ENV_PREFIX,
  resyncMarks,
  THROTTLING_UNIT_MULTIPLIERS,
  type Throttling,
  type ThrottlingRule,
  validateAppEnv,
} from "./app-envs.ts";
export { renderConfigDoc } from "./config-doc.ts";
export type { Config, ConfigOverrides, ConfigSectionName } from "./config-type.ts";
export { crossChecks } from "./cross-checks.ts";
export { DEFAULT_CLUSTER_NAME, defaultConfig } from "./default-config.ts";
export {
  plogSegmentBytesMaxOf,
  plogTailCacheBytesOf,
  readLimitsOf,
  writeLimitsOf,
} from "./limits.ts";
export { loadConfig, type ParseConfigOptions, parseConfig } from "./parse-config.ts";
export type { ConfigProblem } from "./problems.ts";
export { type RemoteTransportOptions, remoteTransportOptions } from "./remote-transport.ts";
export { type RenderConfigOptions, renderConfig } from "./render-config.ts";
export { mapSections, sections } from "./schema.ts";
export type { KeySpec, MapSectionSpec, Role, SectionSpec } from "./schema-types.ts";
export { formatHostPort, type HostPort, parseHostPort } from "./value-types.ts";
