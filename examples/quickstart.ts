// A runnable tour of the client. Start a cluster (`npm start`), create the table
// (`talaria shell -e "create demo -p 4 -r 3"`), then:
//   node --import tsx examples/quickstart.ts [meta-address]
// test/e2e runs this file against a real onebox, so it stays correct.
import { CheckType, createClient } from "talaria";

const metaServers = [process.argv[2] ?? "127.0.0.1:34601"];
const client = createClient({ metaServers, timeoutMs: 5000 });
const users = client.table("demo");

// Records are (hashKey, sortKey) → value; strings are UTF-8, Buffers are taken as is.
await users.set("user:1", "name", "Ada");
await users.set("user:1", "session", "s-42", { ttlSeconds: 3600 });
console.log("name:", (await users.get("user:1", "name"))?.toString());
console.log("session ttl (s):", await users.ttl("user:1", "session"));

// All sort keys of one hash key live in one partition, so multi-ops on them are atomic.
await users.multiSet("user:1", { email: "ada@example.com", city: "London" });
const profile = await users.multiGet("user:1");
console.log(
  "profile:",
  Object.fromEntries(profile.kvs.map((kv) => [kv.sortKey.toString(), kv.value.toString()])),
);

// Atomic operations are evaluated by the primary and logged as their result.
console.log("visits:", await users.incr("user:1", "visits", 1));
const claimed = await users.checkAndSet("user:1", "lock", CheckType.VALUE_NOT_EXIST, "", {
  value: "worker-7",
});
console.log("lock claimed:", claimed.succeeded);

// Scans walk partitions with stateless continuation tokens.
let count = 0;
for await (const record of users.scanHashKey("user:1")) {
  count++;
  if (count === 1) console.log("first record:", record.sortKey.toString());
}
console.log("records of user:1:", count);

await users.multiDel("user:1", ["name", "session", "email", "city", "visits", "lock"]);
await client.close();
console.log("done");
