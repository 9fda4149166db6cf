/**
 * Identifiers shared by every process. A gpid names one partition of one table
 * (`<appId>.<partitionIndex>`, as Pegasus prints it); a node is a replica or meta server's RPC
 * address `host:port`.
 */
import { TalariaError } from "../common/errors.ts";

export type NodeAddress = string;

export interface Gpid {
  readonly appId: number;
  readonly partitionIndex: number;
}

export function gpidKey(gpid: Gpid): string {
  return `${gpid.appId}.${gpid.partitionIndex}`;
}

export function parseGpid(text: string): Gpid {
  const match = /^(\d{1,9})\.(\d{1,6})$/.exec(text);
  if (match === null)
    throw new TalariaError(
      "ERR_INVALID_PARAMETERS",
      `gpid "${text}" is not <appId>.<partitionIndex>`,
    );
  return { appId: Number(match[1]), partitionIndex: Number(match[2]) };
}

export function sameGpid(a: Gpid, b: Gpid): boolean {
  return a.appId === b.appId && a.partitionIndex === b.partitionIndex;
}

const HOST_PORT = /^[A-Za-z0-9.-]+:(\d{1,5})$/;

export function isNodeAddress(value: unknown): value is NodeAddress {
  if (typeof value !== "string") return false;
  const match = HOST_PORT.exec(value);
  return match !== null && Number(match[1]) > 0 && Number(match[1]) < 65_536;
}
