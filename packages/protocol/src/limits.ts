// Size limits both ends of a session agree on (spec: protocol.md "Backup session"). Kept apart
// from the TypeBox schemas so that the client entry (`@cairn/protocol/client`) loads no schema
// compiler.

/** Largest plain or encoded chunk accepted by the server. */
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;
/** Blob header size (encrypted); an encoded chunk may exceed its plain size by at most this. */
export const MAX_CHUNK_ENCODED_SIZE = MAX_CHUNK_SIZE + 44;
/** Default fixed-index chunk size, as PBS (4 MiB). */
export const DEFAULT_FIXED_CHUNK_SIZE = 4 * 1024 * 1024;
/** Most digests in one append message. */
export const MAX_APPEND_ENTRIES = 8192;
