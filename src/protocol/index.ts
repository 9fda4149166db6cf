/** Wire contracts shared by meta servers, replica servers, clients and the simulator. */
export * from "./dead-letter-messages.ts";
export * from "./dup-checkpoint-messages.ts";
export * from "./duplication-messages.ts";
export * from "./ids.ts";
export * from "./meta-messages.ts";
export * from "./partition-config.ts";
export * from "./replica-messages.ts";
