/** Addresses are "host:port" strings; an IPv6 host is written in brackets ("[::1]:34601"). */
import { TalariaError } from "../common/errors.ts";

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export function parseAddress(address: string): HostPort {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (host === undefined || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new TalariaError("ERR_INVALID_PARAMETERS", `address "${address}" is not host:port`, {
      details: { address },
    });
  }
  return { host, port };
}

export function formatAddress(host: string | undefined, port: number | undefined): string {
  const h = host ?? "?";
  return `${h.includes(":") ? `[${h}]` : h}:${port ?? "?"}`;
}
