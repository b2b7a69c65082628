// @cairn/protocol: what a cairn server and its clients share (spec: protocol.md).
//
// Glossary
// - route: a REST endpoint of the management API; its TypeBox schemas live in `schemas/`.
// - session: a WebSocket opened by upgrading `/api2/json/backup` or `/api2/json/reader`; it lives
//   as long as the connection and carries multiplexed requests.
// - frame: one binary WebSocket message, `u32 LE header length | JSON header | body` (framing.ts).
// - op: the name of a session request (`dynamic_chunk`, `finish`, `download`, …).
// - wid: the id of an index writer opened inside a backup session.
// - known chunk: a digest the server already holds for this session (uploaded in it, or listed in
//   an index of the base snapshot fetched with `previous`); the client never uploads it again.
// - fingerprint: SHA-256 of the server's DER certificate, colon hex; pinned by the client.
//
// Invariants: every error on the wire is `{error: {code, message}}` with the HTTP status from
// ERROR_STATUS; every header is schema-checked before use; a fingerprint mismatch is fatal.

export * from "./errors.js";
export * from "./framing.js";
export * from "./schemas/index.js";
export * from "./connection.js";
export * from "./tls-pinning.js";
export * from "./session-client.js";
export * from "./keep-alive.js";
export * from "./backup-writer.js";
export * from "./backup-reader.js";
export * from "./rest-client.js";
export * from "./answer-header.js";
