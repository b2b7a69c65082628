// Headers of session messages (spec: protocol.md "Backup session", "Reader session"). Every
// request header is checked against `RequestHeader` and then against the params schema of its
// op with compiled TypeBox checks before the server uses a single field; the client checks
// answer headers the same way.

import { type Static, type TSchema, Type } from "@sinclair/typebox";
import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";
import { ArchiveName, BackupTime, Digest } from "./common.js";

import { MAX_APPEND_ENTRIES, MAX_CHUNK_SIZE } from "../limits.js";

export { DEFAULT_FIXED_CHUNK_SIZE, MAX_APPEND_ENTRIES, MAX_CHUNK_ENCODED_SIZE, MAX_CHUNK_SIZE } from "../limits.js";

const Wid = Type.Integer({ minimum: 1, maximum: 0xffff_ffff });
const Size = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Csum = Type.String({ pattern: "^[0-9a-f]{64}$" });
const Empty = Type.Object({}, { additionalProperties: false });

export const RequestHeader = Type.Object(
  {
    id: Type.Integer({ minimum: 0, maximum: 0xffff_ffff }),
    op: Type.String({ maxLength: 64 }),
    params: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);
export type RequestHeader = Static<typeof RequestHeader>;

export const ErrorInfo = Type.Object({ code: Type.String(), message: Type.String() });

export const ResponseHeader = Type.Union([
  Type.Object({ id: Type.Integer({ minimum: 0 }), ok: Type.Literal(true), result: Type.Optional(Type.Unknown()) }),
  Type.Object({ id: Type.Integer({ minimum: 0 }), ok: Type.Literal(false), error: ErrorInfo }),
]);
export type ResponseHeader = Static<typeof ResponseHeader>;

/** Params and result of each op. `body: true` marks ops whose request carries bytes. */
export const BackupOps = {
  previous_backup_time: { params: Empty, result: Type.Object({ time: Type.Union([BackupTime, Type.Null()]) }) },
  previous: {
    params: Type.Object({ "archive-name": ArchiveName }, { additionalProperties: false }),
    result: Type.Object({ size: Size }),
  },
  dynamic_index: {
    params: Type.Object({ "archive-name": ArchiveName }, { additionalProperties: false }),
    result: Type.Object({ wid: Wid }),
  },
  fixed_index: {
    params: Type.Object(
      {
        "archive-name": ArchiveName,
        size: Size,
        "chunk-size": Type.Optional(Type.Integer({ minimum: 4096, maximum: MAX_CHUNK_SIZE })),
      },
      { additionalProperties: false },
    ),
    result: Type.Object({ wid: Wid }),
  },
  dynamic_chunk: {
    params: Type.Object(
      { wid: Wid, digest: Digest, size: Size, "encoded-size": Size },
      { additionalProperties: false },
    ),
    result: Type.Object({ digest: Digest, existed: Type.Boolean() }),
    body: true,
  },
  fixed_chunk: {
    params: Type.Object(
      { wid: Wid, digest: Digest, size: Size, "encoded-size": Size },
      { additionalProperties: false },
    ),
    result: Type.Object({ digest: Digest, existed: Type.Boolean() }),
    body: true,
  },
  dynamic_append: {
    params: Type.Object(
      {
        wid: Wid,
        "digest-list": Type.Array(Digest, { maxItems: MAX_APPEND_ENTRIES }),
        "offset-list": Type.Array(Size, { maxItems: MAX_APPEND_ENTRIES }),
      },
      { additionalProperties: false },
    ),
    result: Type.Object({ count: Size }),
  },
  fixed_append: {
    params: Type.Object(
      {
        wid: Wid,
        "digest-list": Type.Array(Digest, { maxItems: MAX_APPEND_ENTRIES }),
        "offset-list": Type.Array(Size, { maxItems: MAX_APPEND_ENTRIES }),
      },
      { additionalProperties: false },
    ),
    result: Type.Object({ count: Size }),
  },
  dynamic_close: {
    params: Type.Object(
      { wid: Wid, "chunk-count": Size, size: Size, csum: Csum },
      { additionalProperties: false },
    ),
    result: Type.Object({ csum: Csum, size: Size }),
  },
  fixed_close: {
    params: Type.Object(
      { wid: Wid, "chunk-count": Size, size: Size, csum: Csum },
      { additionalProperties: false },
    ),
    result: Type.Object({ csum: Csum, size: Size }),
  },
  blob: {
    params: Type.Object({ "file-name": ArchiveName, "encoded-size": Size }, { additionalProperties: false }),
    result: Type.Object({ size: Size }),
    body: true,
  },
  finish: { params: Empty, result: Type.Object({ snapshot: Type.String() }) },
  speedtest: { params: Empty, result: Type.Object({ bytes: Size }), body: true },
} as const satisfies Record<string, { params: TSchema; result: TSchema; body?: boolean }>;

export const ReaderOps = {
  download: {
    params: Type.Object({ "file-name": Type.Union([ArchiveName, Type.Literal("index.json.blob")]) }, { additionalProperties: false }),
    result: Type.Object({ size: Size }),
  },
  chunk: {
    params: Type.Object({ digest: Digest }, { additionalProperties: false }),
    result: Type.Object({ size: Size }),
  },
} as const satisfies Record<string, { params: TSchema; result: TSchema; body?: boolean }>;

export type BackupOp = keyof typeof BackupOps;
export type ReaderOp = keyof typeof ReaderOps;
export type OpParams<T extends Record<string, { params: TSchema }>, K extends keyof T> = Static<T[K]["params"]>;
export type OpResult<T extends Record<string, { result: TSchema }>, K extends keyof T> = Static<T[K]["result"]>;
export type BackupParams<K extends BackupOp> = Static<(typeof BackupOps)[K]["params"]>;
export type BackupResult<K extends BackupOp> = Static<(typeof BackupOps)[K]["result"]>;
export type ReaderParams<K extends ReaderOp> = Static<(typeof ReaderOps)[K]["params"]>;
export type ReaderResult<K extends ReaderOp> = Static<(typeof ReaderOps)[K]["result"]>;

export interface CompiledOp {
  params: TypeCheck<TSchema>;
  result: TypeCheck<TSchema>;
  body: boolean;
}

function compileOps(ops: Record<string, { params: TSchema; result: TSchema; body?: boolean }>): Map<string, CompiledOp> {
  const out = new Map<string, CompiledOp>();
  for (const [name, op] of Object.entries(ops)) {
    out.set(name, { params: TypeCompiler.Compile(op.params), result: TypeCompiler.Compile(op.result), body: op.body === true });
  }
  return out;
}

export const RequestHeaderCheck = TypeCompiler.Compile(RequestHeader);
export const ResponseHeaderCheck = TypeCompiler.Compile(ResponseHeader);
export const BACKUP_OPS: ReadonlyMap<string, CompiledOp> = compileOps(BackupOps);
export const READER_OPS: ReadonlyMap<string, CompiledOp> = compileOps(ReaderOps);

/** First schema error as one line, for error messages. */
export function describeCheckError(check: TypeCheck<TSchema>, value: unknown): string {
  const first = check.Errors(value).First();
  if (!first) return "invalid value";
  return `${first.path || "/"}: ${first.message}`;
}
