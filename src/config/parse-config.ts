/** Reading a configuration: from text (`parseConfig`) or from a file (`loadConfig`). */
import { readFile } from "node:fs/promises";
import { TalariaError } from "../common/errors.ts";
import type { Config } from "./config-type.ts";
import { scanIni } from "./ini-scanner.ts";
import { resolveConfig } from "./resolve.ts";

export interface ParseConfigOptions {
  /** Names the text in error messages (a file path); default "<config>". */
  readonly source?: string;
}

/** Parses and validates ini text; throws ERR_INVALID_CONFIG listing every problem found. */
export function parseConfig(text: string, options: ParseConfigOptions = {}): Config {
  const source = options.source ?? "<config>";
  const { sections, problems } = scanIni(text);
  return resolveConfig(sections, source, problems);
}

/** Reads, parses and validates a configuration file. */
export async function loadConfig(path: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TalariaError("ERR_INVALID_CONFIG", `cannot read configuration file: ${reason}`, {
      details: { source: path },
      cause: error,
    });
  }
  return parseConfig(text, { source: path });
}
