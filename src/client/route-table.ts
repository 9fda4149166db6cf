/**
 * A table's routing information cached by the client: its partition count and each partition's
 * primary. Refreshed from the meta server on demand; concurrent refreshes share one request.
 */

import { partitionIndex } from "../codec/key-schema.ts";
import { TalariaError } from "../common/errors.ts";
import {
  type Gpid,
  MetaMethod,
  type PartitionConfiguration,
  type QueryConfigurationResponse,
} from "../protocol/index.ts";
import type { MetaSession } from "./meta-session.ts";

export interface Route {
  readonly gpid: Gpid;
  readonly partitionCount: number;
  readonly primary: string;
}

export class RouteTable {
  private readonly appName: string;
  private readonly meta: MetaSession;
  private config: QueryConfigurationResponse | undefined;
  private refreshing: Promise<QueryConfigurationResponse> | undefined;

  constructor(appName: string, meta: MetaSession) {
    this.appName = appName;
    this.meta = meta;
  }

  async configuration(timeoutMs: number): Promise<QueryConfigurationResponse> {
    return this.config ?? this.refresh(timeoutMs);
  }

  /** Fetches the configuration again (one request however many callers ask at once). */
  refresh(timeoutMs: number): Promise<QueryConfigurationResponse> {
    this.refreshing ??= (async () => {
      try {
        const response = (await this.meta.call(
          MetaMethod.QUERY_CONFIGURATION,
          { appName: this.appName },
          timeoutMs,
        )) as QueryConfigurationResponse;
        this.config = response;
        return response;
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  /** The route for the record `(hashKey, sortKey)`: `crc64(hashKey or sortKey) % partitionCount`. */
  async routeKey(hashKey: Buffer, sortKey: Buffer, timeoutMs: number): Promise<Route> {
    const config = await this.configuration(timeoutMs);
    return this.routePartition(config, partitionIndex(hashKey, sortKey, config.app.partitionCount));
  }

  async routeIndex(index: number, timeoutMs: number): Promise<Route> {
    return this.routePartition(await this.configuration(timeoutMs), index);
  }

  private routePartition(config: QueryConfigurationResponse, index: number): Route {
    const partition: PartitionConfiguration | undefined = config.partitions[index];
    if (partition?.primary === undefined) {
      throw new TalariaError(
        "ERR_INVALID_STATE",
        `${this.appName} partition ${index} has no primary right now`,
        {
          retriable: true,
          details: { appName: this.appName, partitionIndex: index },
        },
      );
    }
    return {
      gpid: partition.gpid,
      partitionCount: config.app.partitionCount,
      primary: partition.primary,
    };
  }
}
