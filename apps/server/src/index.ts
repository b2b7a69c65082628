// @cairn/server — the cairn backup daemon (spec: protocol.md; datastore.md for the store rules).
//
// Glossary
// - config folder: JSON files (datastores, users and tokens, ACL), the TLS certificate and the
//   ticket key; edited by the CLI directly, read by the daemon on change.
// - caller: the authenticated auth id of a request (a user `alice@pbs` or a token `alice@pbs!ci`).
// - privilege: what an ACL role grants on a path (`Datastore.Backup` on `/datastore/store1`).
// - session: a WebSocket upgraded from `/api2/json/backup` or `/api2/json/reader`.
// - task: a long operation (GC, verify, a session) with a UPID, log and final state.
// - generation: one daemon process in a chain of graceful restarts (reload.ts); the pid file
//   names the generation that owns the listener, older ones only finish their sessions.
//
// Invariants: every route authenticates (except the ticket route) and checks privileges before
// touching a datastore; every name is schema-checked before it reaches a path; a chunk enters
// the store only after CRC, size and (plain) digest checks in the worker pool; a backup that
// does not finish leaves no snapshot behind.

export { DEFAULT_LISTEN, VERSION, parseListen, type RunningServer, type StartServerOptions, startServer } from "./server.js";
export { ConfigDir } from "./config.js";
export { createDatastore } from "./stores.js";
export { createToken, createUser } from "./auth.js";
export { setAcl } from "./acl.js";
export { ensureCertificate, loadCertificate } from "./cert.js";
