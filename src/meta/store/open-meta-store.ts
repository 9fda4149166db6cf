/** Opening the configured MetaStore implementation. */
import { unreachable } from "../../common/assert.ts";
import type { Logger } from "../../common/logger.ts";
import { EmbeddedMetaStore, type EmbeddedMetaStoreOptions } from "./embedded-store.ts";
import type { MetaStore } from "./meta-store.ts";
import { ZooKeeperMetaStore, type ZooKeeperMetaStoreOptions } from "./zookeeper-store.ts";

export type MetaStoreOptions =
  | ({ readonly kind: "embedded" } & EmbeddedMetaStoreOptions)
  | ({ readonly kind: "zookeeper" } & ZooKeeperMetaStoreOptions);

export function openMetaStore(
  options: MetaStoreOptions,
  deps: { readonly logger?: Logger } = {},
): Promise<MetaStore> {
  switch (options.kind) {
    case "embedded":
      return EmbeddedMetaStore.open(options, deps);
    case "zookeeper":
      return ZooKeeperMetaStore.open(options, deps);
    default:
      return unreachable(options, "meta store kind");
  }
}
