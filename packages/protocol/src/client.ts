// @cairn/protocol/client: the client side of the protocol without the TypeBox schemas and their
// compiler, which a client never runs (it checks answer headers by hand, answer-header.ts).
// Loading it costs a command-line client about a third of its start-up time less than the
// package root. Schema types are exported as types only.

export * from "./errors.js";
export * from "./framing.js";
export * from "./limits.js";
export * from "./answer-header.js";
export * from "./connection.js";
export * from "./tls-pinning.js";
export * from "./session-client.js";
export * from "./keep-alive.js";
export * from "./backup-writer.js";
export * from "./backup-reader.js";
export * from "./rest-client.js";
export type * from "./schemas/index.js";
